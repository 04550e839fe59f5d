"""Quantized Linear and Conv1d/Conv2d layers whose precision the server sets each round.

Each layer quantizes its weights (clipped) and its input activations (not clipped) at the current
training precision n. The precision lives in a small shared ``Precision`` object so one call sets
a whole model, and the stochastic-rounding generator is per round and device (seeded).
``quantize_layers`` turns the plain Linear and Conv layers of any model into these, in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._warn import warn_once
from ._names import FULL_PRECISION_BITS, ROUNDING_MODES
from ._quantizer import NoiseSource, quantize


@dataclass
class Precision:
    """The training precision n, the rounding mode and the generator for stochastic rounding."""

    bits: int = FULL_PRECISION_BITS
    rounding: str = "nearest"
    generator: torch.Generator | None = None
    noise_source: NoiseSource | None = None  # replaces the generator's draws (the cohort engine)

    @property
    def stochastic(self) -> bool:
        return self.rounding == "stochastic"


class QuantModule(nn.Module):
    """Mixin: a module that reads its precision from ``self.precision``."""

    precision: Precision

    def _quantize_weight(self, weight: torch.Tensor) -> torch.Tensor:
        p = self.precision
        return quantize(weight, p.bits, clip=True, stochastic=p.stochastic, generator=p.generator, noise_source=p.noise_source)

    def _quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        p = self.precision
        return quantize(x, p.bits, clip=False, stochastic=p.stochastic, generator=p.generator, noise_source=p.noise_source)


class QuantLinear(nn.Linear, QuantModule):
    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.precision = Precision()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self._quantize_weight(self.bias)
        return F.linear(self._quantize_input(x), self._quantize_weight(self.weight), bias)


def _quantized_conv_forward(self, x: torch.Tensor) -> torch.Tensor:
    bias = None if self.bias is None else self._quantize_weight(self.bias)
    return self._conv_forward(self._quantize_input(x), self._quantize_weight(self.weight), bias)


class QuantConv1d(nn.Conv1d, QuantModule):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.precision = Precision()

    forward = _quantized_conv_forward


class QuantConv2d(nn.Conv2d, QuantModule):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.precision = Precision()

    forward = _quantized_conv_forward


# Plain layer type -> its quantized twin (a subclass adding only the precision and the forward).
_QUANTIZED = {nn.Linear: QuantLinear, nn.Conv1d: QuantConv1d, nn.Conv2d: QuantConv2d}
# Parametrized layers that need no quantizer of their own: they act elementwise on a quantized
# layer's output, as BatchNorm does in the built-in models.
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()))


def quantize_layers(model: nn.Module) -> nn.Module:
    """``model`` with each plain ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` (exactly those
    types: a subclass may have its own forward) made a QuantLinear / QuantConv1d / QuantConv2d in
    place: the same object, parameters, hooks and state-dict names, so no weight is re-drawn and
    the forward is unchanged at 32 bits. MultiheadAttention's out_proj is left alone: attention
    reads its weight directly, never calling it."""
    for module in _outer_modules(model):
        twin = _QUANTIZED.get(type(module))
        if twin is not None:
            module.__class__ = twin
            module.precision = Precision()
    return model


def unquantized_layers(model: nn.Module) -> list[str]:
    """``"name (Type)"`` of each module with parameters of its own that n-bit training leaves in
    float32: anything but the quantized layers and normalisation (an LSTM, an Embedding, attention)."""
    return [f"{name or 'the model'} ({type(m).__name__})" for name, m in _outer_named_modules(model)
            if not isinstance(m, (QuantModule, *_NORMS)) and next(m.parameters(recurse=False), None) is not None]


def _outer_named_modules(model: nn.Module, prefix: str = ""):
    """(name, module) of ``model`` and its submodules, not descending into attention (its
    projections are its own parameters, whatever modules hold them)."""
    yield prefix, model
    if not isinstance(model, nn.MultiheadAttention):
        for name, child in model.named_children():
            yield from _outer_named_modules(child, f"{prefix}.{name}" if prefix else name)


def _outer_modules(model: nn.Module):
    return (m for _, m in _outer_named_modules(model))


def set_precision(
    model: nn.Module,
    bits: int,
    rounding: str = "nearest",
    generator: torch.Generator | None = None,
    noise_source: NoiseSource | None = None,
    *,
    warn: bool = True,
) -> None:
    """Set the training precision of every quantized layer of ``model`` (one shared ``Precision``);
    below 32 bits, ``warn`` names (once) the layers with parameters that stay float32."""
    if not 1 <= int(bits) <= FULL_PRECISION_BITS:
        raise ValueError(f"bits={bits} is not allowed: an integer in [1, 32]")
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"rounding={rounding!r} is not allowed: one of {', '.join(ROUNDING_MODES)}")
    if warn and int(bits) < FULL_PRECISION_BITS:
        left = unquantized_layers(model)
        if left:
            warn_once(f"{type(model).__name__} keeps the parameters of {', '.join(left)} in float32: n-bit training quantizes only Linear and Conv layers")
    shared = Precision(int(bits), rounding, generator, noise_source)
    for module in model.modules():
        if isinstance(module, QuantModule):
            module.precision = shared
