"""``model=custom``: any ``nn.Module`` factory, built under the run's seed and quantized like the
built-in models.

``model.target`` (MODULE:FACTORY) names a class or a function; it is called with ``model.kwargs``
plus ``input_shape=``, ``num_classes=`` and ``vocab_size=`` for those of the three its signature
names and ``model.kwargs`` does not set. Its plain Linear and Conv1d/Conv2d layers become the
quantized ones (``quantize_layers``), and one example must come out as (1, num_classes) logits.
Everything that can go wrong is a one-line ConfigError on ``model.target`` or ``model.kwargs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .._target import keyword_names
from ..errors import ConfigError
from ._layers import quantize_layers
from ._names import _one_line, load_target

KEY = "model.target"


def build_custom_model(
    target: str | None,
    kwargs: Mapping[str, Any],
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    seed: int,
    vocab_size: int | None = None,
) -> nn.Module:
    """``target(**kwargs, ...)`` with weights initialised from ``seed`` (as ``build_model``: same
    seed, same weights), quantized and checked on one example of zeros (int64 for token ids)."""
    factory = load_target(KEY, target)
    if not isinstance(kwargs, Mapping):
        raise ConfigError("model.kwargs", kwargs, f"a mapping of keyword arguments of {target}")
    given = {"input_shape": tuple(input_shape), "num_classes": num_classes, "vocab_size": vocab_size}
    arguments = {**{k: v for k, v in given.items() if k in keyword_names(factory)}, **kwargs}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = factory(**arguments)
        except Exception as error:  # noqa: BLE001 - whatever the user's code raises, in one line
            raise ConfigError(KEY, target, f"a factory that builds with model.kwargs={dict(kwargs)} "
                                           f"(it raised {type(error).__name__}: {_one_line(error)})") from None
        if not isinstance(model, nn.Module):
            raise ConfigError(KEY, target, f"a factory returning a torch.nn.Module, not a {type(model).__name__}")
        if next(model.parameters(), None) is None:
            raise ConfigError(KEY, target, "a model with trainable parameters (this one has none)")
        quantize_layers(model)
        _check_output(model, target, input_shape, num_classes, torch.int64 if vocab_size is not None else torch.float32)
    return model


def _check_output(model: nn.Module, target: str | None, input_shape: tuple[int, ...], num_classes: int, dtype: torch.dtype) -> None:
    """One example in (eval mode, no gradient) must give a (1, num_classes) tensor."""
    shape = (1, *input_shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(shape, dtype=dtype))
    except Exception as error:  # noqa: BLE001
        raise ConfigError(KEY, target, f"a model taking a batch of inputs of shape {shape} "
                                       f"(it raised {type(error).__name__}: {_one_line(error)})") from None
    finally:
        model.train(was_training)
    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if got != (1, num_classes):
        raise ConfigError(KEY, target, f"a model whose output on inputs of shape {shape} is (batch, num_classes) = "
                                       f"(1, {num_classes}) logits, not {got}")
