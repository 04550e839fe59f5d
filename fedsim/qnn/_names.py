"""The vocabulary of fedsim.qnn (torch-free, so the config can validate against it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._target import import_target
from .._target import one_line as _one_line  # noqa: F401 - fedsim.qnn._custom's
from ..errors import ConfigError

FULL_PRECISION_BITS = 32  # n = 32 means float: no quantization
ROUNDING_MODES = ("nearest", "stochastic")
CUSTOM_MODEL = "custom"  # any nn.Module factory: model.target=MODULE:FACTORY, model.kwargs={...}
# Quantized classifiers of build_model. char_lstm reads token ids; the others images (C, H, W)
# (mlp also flat features (D,)).
MODELS = ("mlp", "cnn", "qcnn5", "cifar_cnn", "resnet8", "resnet20", "char_lstm", CUSTOM_MODEL)
TOKEN_MODELS = ("char_lstm",)
TARGET_FORM = "MODULE:FACTORY naming an nn.Module class or a function returning one (e.g. mypkg.models:Net)"


def load_target(key: str, target: Any) -> Callable[..., Any]:
    """The callable ``target`` ("module:attr", attr may be dotted) names, imported from the
    installed packages or the current directory; a ConfigError on ``key`` says why not."""
    obj = import_target(key, target, TARGET_FORM)
    if not callable(obj):
        raise ConfigError(key, target, f"a callable: an nn.Module class or a function returning one, not a {type(obj).__name__}")
    return obj

