"""Quantized Linear and Conv2d layers whose precision the server sets each round.

Each layer quantizes its weights (clipped) and its input activations (not clipped) at the current
training precision n. The precision lives in a small shared ``Precision`` object so one call sets
a whole model, and the stochastic-rounding generator is per round and device (seeded).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

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


class QuantConv2d(nn.Conv2d, QuantModule):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.precision = Precision()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self._quantize_weight(self.bias)
        return self._conv_forward(self._quantize_input(x), self._quantize_weight(self.weight), bias)


def set_precision(
    model: nn.Module,
    bits: int,
    rounding: str = "nearest",
    generator: torch.Generator | None = None,
    noise_source: NoiseSource | None = None,
) -> None:
    """Set the training precision of every quantized layer of ``model`` (one shared ``Precision``)."""
    if not 1 <= int(bits) <= FULL_PRECISION_BITS:
        raise ValueError(f"bits={bits} is not allowed: an integer in [1, 32]")
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"rounding={rounding!r} is not allowed: one of {', '.join(ROUNDING_MODES)}")
    shared = Precision(int(bits), rounding, generator, noise_source)
    for module in model.modules():
        if isinstance(module, QuantModule):
            module.precision = shared
