"""The fixed-point quantizer of the QNN energy papers (Kim et al., green quantized FL).

At precision n the grid is 2^-(n-1). Weights are clipped to [-1, 1] first; activations are not
clipped. n = 32 means "float" (no quantization) and n = 1 means sign. Backward is the
straight-through estimator: the rounding step passes gradients unchanged, while the weight clip
keeps its own gradient (zero outside [-1, 1], as in Hubara et al.) so latent weights do not drift
without bound.
"""

from __future__ import annotations

import torch

from ._names import FULL_PRECISION_BITS


def grid_step(bits: int) -> float:
    """Distance between neighbouring levels at ``bits`` of precision: 2^-(bits-1)."""
    return 2.0 ** -(bits - 1)


def _round_to_grid(
    x: torch.Tensor, bits: int, stochastic: bool, generator: torch.Generator | None
) -> torch.Tensor:
    if bits == 1:
        # Sign, with sign(0) = +1 so every value lands on one of the two levels.
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))
    scale = 2.0 ** (bits - 1)
    scaled = x * scale
    if stochastic:
        # floor(x + u), u ~ U[0, 1): rounds up with probability equal to the fractional part,
        # so the result is unbiased.
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return torch.floor(scaled + noise) / scale
    return torch.round(scaled) / scale


def quantize(
    x: torch.Tensor,
    bits: int,
    *,
    clip: bool,
    stochastic: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Quantize ``x`` to the 2^-(bits-1) grid with a straight-through gradient.

    ``clip=True`` is for weights (clipped to [-1, 1] before rounding), ``clip=False`` for
    activations. ``bits >= 32`` returns ``x`` untouched.
    """
    if bits >= FULL_PRECISION_BITS:
        return x
    if bits < 1:
        raise ValueError(f"bits={bits} is not allowed: an integer in [1, 32]")
    source = torch.clamp(x, -1.0, 1.0) if clip else x
    with torch.no_grad():
        rounded = _round_to_grid(source, bits, stochastic, generator)
    # Straight-through: forward value is `rounded`, gradient is d(source)/dx.
    return source + (rounded - source).detach()
