"""The fixed-point quantizer of the QNN energy papers (Kim et al., green quantized FL).

At precision n the grid is 2^-(n-1). Weights are clipped to [-1, 1] first; activations are not
clipped. n = 32 means "float" (no quantization) and n = 1 means sign. Backward is the
straight-through estimator: the rounding step passes gradients unchanged, while the weight clip
keeps its own gradient (zero outside [-1, 1], as in Hubara et al.) so latent weights do not drift
without bound.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._names import FULL_PRECISION_BITS


def grid_step(bits: int) -> float:
    """Distance between neighbouring levels at ``bits`` of precision: 2^-(bits-1)."""
    return 2.0 ** -(bits - 1)


# Supplies the U[0, 1) noise of one stochastic rounding of x (x's shape and dtype) in place of
# drawing it: the cohort engine feeds each client's pre-drawn noise through it under vmap.
NoiseSource = Callable[[torch.Tensor], torch.Tensor]


def _round_to_grid(
    x: torch.Tensor, bits: int, stochastic: bool, generator: torch.Generator | None, noise_source: NoiseSource | None = None,
    *, noise_writable: bool = False,
) -> torch.Tensor:
    """x on the grid, in one fresh tensor rounded in place (no autograd); with
    ``noise_writable``, rounded in the tensor ``noise_source`` gave (the cohort's own buffer)."""
    if bits == 1:
        # Sign, with sign(0) = +1 so every value lands on one of the two levels.
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)
    scale = 2.0 ** (bits - 1)
    # Scaling by a power of two is exact, so x * scale + u and multiplying by 1/scale give the
    # same floats as (x * scale) + u and dividing by scale did, in one buffer.
    if stochastic:
        # floor(x + u), u ~ U[0, 1): rounds up with probability equal to the fractional part,
        # so the result is unbiased.
        if noise_source is not None:
            if noise_writable:
                return noise_source(x).add_(x, alpha=scale).floor_().mul_(1.0 / scale)
            # out of place: the fed noise may be a vmap input
            return torch.add(noise_source(x), x, alpha=scale).floor_().mul_(1.0 / scale)
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return noise.add_(x, alpha=scale).floor_().mul_(1.0 / scale)
    return torch.mul(x, scale).round_().mul_(1.0 / scale)


class _StraightThrough(torch.autograd.Function):
    """Forward ``source + (rounded - source)`` (the float the detach formulation gave), backward
    the identity: one graph node instead of three.

    The old ``forward(ctx, ...)`` form on purpose: with a separate ``setup_context`` torch binds
    the arguments through ``inspect.signature`` on every call (~0.1 ms, a sixth of a tiny MLP's
    step). torch.func never sees this node (``quantize`` takes the detach form under it), so it
    needs no vmap rule.
    """

    @staticmethod
    def forward(ctx, source: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
        return rounded.sub(source).add_(source)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


def quantize(
    x: torch.Tensor,
    bits: int,
    *,
    clip: bool,
    stochastic: bool = False,
    generator: torch.Generator | None = None,
    noise_source: NoiseSource | None = None,
) -> torch.Tensor:
    """Quantize ``x`` to the 2^-(bits-1) grid with a straight-through gradient.

    ``clip=True`` is for weights (clipped to [-1, 1] before rounding), ``clip=False`` for
    activations. ``bits >= 32`` returns ``x`` untouched. ``noise_source``, if given, supplies the
    stochastic-rounding noise instead of ``generator``.
    """
    if bits >= FULL_PRECISION_BITS:
        return x
    if bits < 1:
        raise ValueError(f"bits={bits} is not allowed: an integer in [1, 32]")
    source = torch.clamp(x, -1.0, 1.0) if clip else x
    with torch.no_grad():
        rounded = _round_to_grid(source.detach(), bits, stochastic, generator, noise_source)
    if not source.requires_grad:
        return rounded.sub_(source).add_(source)
    if torch._C._are_functorch_transforms_active():
        # Under torch.func (the cohort engine), a custom Function takes a slow generic path; the
        # detach form gives the same float (IEEE addition commutes) and the same gradient.
        return source + (rounded - source).detach()
    return _StraightThrough.apply(source, rounded)
