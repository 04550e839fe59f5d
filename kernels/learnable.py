"""Learnable sparsity masks: Gumbel relaxations trained end to end with the weights frozen.

Two masks, both ``nn.Module``s whose only parameters are logits and whose ``forward()`` returns
a mask of the weight's shape:

- ``GumbelSigmoidMask`` (LEAP): one Bernoulli keep-logit per weight, relaxed with a
  Gumbel-sigmoid; unstructured sparsity at any density.
- ``Gumbel24Mask`` (PATCH): per group of 4 consecutive inputs, logits over the six legal 2:4
  patterns (Gumbel-softmax), plus one gate per tile (default 128×128) choosing dense vs 2:4, so
  global sparsity lies anywhere in [0, 0.5] while every tile stays hardware-friendly.

Both read two attributes that schedules anneal during training: ``temperature`` (τ; lower is
sharper samples) and ``scale`` (multiplies the logits; higher pushes the distribution itself to
0/1, so sampled masks converge to ``hard_mask()``). In training mode ``forward()`` samples; with
``hard=True`` the sample is binarized in the forward pass and keeps the relaxed gradient
(straight-through). In eval mode it returns the deterministic ``hard_mask()``.

``MaskedLinear`` wraps an ``nn.Linear`` with frozen weights so only the mask logits learn; loss =
task loss + λ·``mask.density_loss(target_density)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "PATTERNS_24",
    "GumbelSigmoidMask",
    "Gumbel24Mask",
    "MaskedLinear",
    "linear_schedule",
    "exponential_schedule",
]

# The six ways to keep 2 of 4 inputs, one row per pattern.
PATTERNS_24 = torch.tensor([[1.0 if i in keep else 0.0 for i in range(4)] for keep in combinations(range(4), 2)])

_EPS = 1e-6  # keeps log(u) finite when sampling uniforms


# ----------------------------------------------------------------------------- schedules
def linear_schedule(start: float, end: float, steps: int) -> Callable[[int], float]:
    """Value at step t: straight line from ``start`` (t = 0) to ``end`` (t ≥ ``steps``)."""
    _check_steps(steps)

    def value(step: int) -> float:
        frac = min(max(step, 0), steps) / steps
        return start + (end - start) * frac

    return value


def exponential_schedule(start: float, end: float, steps: int) -> Callable[[int], float]:
    """Value at step t: geometric interpolation ``start·(end/start)^(t/steps)``, held at ``end``."""
    _check_steps(steps)
    for name, v in (("start", start), ("end", end)):
        if not v > 0:
            raise ValueError(f"{name}={v} must be > 0 for an exponential schedule")
    ratio = math.log(end / start)

    def value(step: int) -> float:
        frac = min(max(step, 0), steps) / steps
        return start * math.exp(ratio * frac)

    return value


def _check_steps(steps: int) -> None:
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps={steps} must be an integer >= 1")


# ----------------------------------------------------------------------------- helpers
def _check_relaxation(temperature: float, scale: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature={temperature} must be > 0")
    if not scale > 0:
        raise ValueError(f"scale={scale} must be > 0")


def _shape2d(shape: tuple[int, int] | torch.Size) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape={shape} must be (d_out, d_in) with positive sizes")
    return shape  # type: ignore[return-value]


def _uniform(shape: torch.Size, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
    return u.clamp(_EPS, 1.0 - _EPS)


def _logistic_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Difference of two Gumbels = logistic noise: sigmoid(l + noise) > 0.5 with prob sigmoid(l)."""
    u = _uniform(like.shape, like, generator)
    return torch.log(u) - torch.log1p(-u)


def _gumbel_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return -torch.log(-torch.log(_uniform(like.shape, like, generator)))


def _straight_through(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """``hard`` in the forward pass, the gradient of ``soft`` in the backward pass."""
    return hard + (soft - soft.detach())  # the bracket is exactly 0: binary values stay exact


def _check_target(target_density: float, low: float) -> None:
    if not low <= target_density <= 1.0:
        raise ValueError(f"target_density={target_density} must be in [{low}, 1]")


# ----------------------------------------------------------------------------- LEAP
class GumbelSigmoidMask(nn.Module):
    """Per-weight keep-logits relaxed with a Gumbel-sigmoid (LEAP, unstructured).

    Args:
        shape: the masked weight's shape.
        init_logit: initial logit of every weight (ignored when ``logits`` is given); 2 ≈ 88% kept.
        logits: initial logits, e.g. from weight-magnitude scores.
        temperature: τ of the relaxation, annealed by a schedule.
        scale: multiplies the logits, annealed upwards to sharpen the keep probabilities.
        hard: straight-through binary samples in training mode.
        generator: the noise stream (seeded runs are reproducible).
    """

    def __init__(
        self,
        shape: tuple[int, ...] | torch.Size,
        *,
        init_logit: float = 2.0,
        logits: torch.Tensor | None = None,
        temperature: float = 1.0,
        scale: float = 1.0,
        hard: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        shape = tuple(int(s) for s in shape)
        if not shape or min(shape) < 1:
            raise ValueError(f"shape={shape} must be non-empty with positive sizes")
        _check_relaxation(temperature, scale)
        if logits is None:
            logits = torch.full(shape, float(init_logit))
        elif tuple(logits.shape) != shape:
            raise ValueError(f"logits.shape={tuple(logits.shape)} must equal shape={shape}")
        self.shape = shape
        self.logits = nn.Parameter(logits.detach().clone().float())
        self.temperature = temperature
        self.scale = scale
        self.hard = hard
        self.generator = generator

    def probs(self) -> torch.Tensor:
        """Keep probability of every weight (differentiable)."""
        return torch.sigmoid(self.scale * self.logits)

    def density(self) -> torch.Tensor:
        """Expected fraction of kept weights: the mean keep probability."""
        return self.probs().mean()

    def sparsity(self) -> torch.Tensor:
        return 1.0 - self.density()

    def density_loss(self, target_density: float) -> torch.Tensor:
        """Squared gap between the expected density and ``target_density`` in [0, 1]."""
        _check_target(target_density, 0.0)
        return (self.density() - target_density) ** 2

    def sample(self) -> torch.Tensor:
        """A relaxed sample (binary with straight-through gradients when ``hard``)."""
        _check_relaxation(self.temperature, self.scale)
        z = self.scale * self.logits + _logistic_noise(self.logits, self.generator)
        soft = torch.sigmoid(z / self.temperature)
        return _straight_through((z > 0).to(soft.dtype), soft) if self.hard else soft

    def hard_mask(self) -> torch.Tensor:
        """The deterministic mask: keep where the keep probability exceeds 1/2."""
        return (self.logits.detach() > 0).float()

    def forward(self) -> torch.Tensor:
        return self.sample() if self.training else self.hard_mask()

    def extra_repr(self) -> str:
        return f"shape={self.shape}, temperature={self.temperature:g}, scale={self.scale:g}, hard={self.hard}"


# ----------------------------------------------------------------------------- PATCH
class Gumbel24Mask(nn.Module):
    """Learnable tile-hybrid 2:4 mask (PATCH): per-group pattern logits plus a per-tile dense gate.

    The mask is ``gate + (1 − gate)·m24`` with ``m24`` a (relaxed) choice among ``PATTERNS_24`` for
    every 4 consecutive inputs of a row and ``gate`` a (relaxed) per-tile Bernoulli "keep this
    tile dense". A 2:4 pattern mixture always keeps half, so the expected density is
    ``0.5 + 0.5·(element-weighted dense-gate probability)``.

    Args:
        shape: ``(d_out, d_in)`` of the weight; ``d_in`` must be a multiple of 4.
        tile: tile size ``(rows, cols)`` or one int for square tiles; cols a multiple of 4 so no
            group straddles two tiles. Edge tiles may be smaller.
        gated: learn tile gates; ``False`` gives a pure 2:4 mask (density exactly 0.5).
        init_gate_logit: initial gate logit (negative favours 2:4 tiles).
        pattern_logits: explicit initial pattern logits, shape ``(d_out, d_in/4, 6)``.
        gate_logits: explicit initial gate logits, shape ``(tiles_out, tiles_in)``.
        temperature: as for ``GumbelSigmoidMask``.
        scale: as for ``GumbelSigmoidMask``.
        hard: as for ``GumbelSigmoidMask``.
        generator: as for ``GumbelSigmoidMask``.
    """

    def __init__(
        self,
        shape: tuple[int, int] | torch.Size,
        *,
        tile: int | tuple[int, int] = 128,
        gated: bool = True,
        init_gate_logit: float = 0.0,
        pattern_logits: torch.Tensor | None = None,
        gate_logits: torch.Tensor | None = None,
        temperature: float = 1.0,
        scale: float = 1.0,
        hard: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        d_out, d_in = _shape2d(shape)
        if d_in % 4:
            raise ValueError(f"shape={(d_out, d_in)} has d_in={d_in}, which must be a multiple of 4 for 2:4")
        tile_rows, tile_cols = (tile, tile) if isinstance(tile, int) else tuple(tile)
        if tile_rows < 1 or tile_cols < 4 or tile_cols % 4:
            raise ValueError(f"tile={tile} must have rows >= 1 and cols a positive multiple of 4")
        _check_relaxation(temperature, scale)
        self.shape = (d_out, d_in)
        self.tile = (tile_rows, tile_cols)
        self.gated = gated
        n_tiles = (math.ceil(d_out / tile_rows), math.ceil(d_in / tile_cols))
        if pattern_logits is None:
            pattern_logits = torch.zeros(d_out, d_in // 4, 6)
        elif tuple(pattern_logits.shape) != (d_out, d_in // 4, 6):
            raise ValueError(f"pattern_logits.shape={tuple(pattern_logits.shape)} must be {(d_out, d_in // 4, 6)}")
        if gate_logits is None:
            gate_logits = torch.full(n_tiles, float(init_gate_logit))
        elif tuple(gate_logits.shape) != n_tiles:
            raise ValueError(f"gate_logits.shape={tuple(gate_logits.shape)} must be {n_tiles} (tiles_out, tiles_in)")
        self.pattern_logits = nn.Parameter(pattern_logits.detach().clone().float())
        self.gate_logits = nn.Parameter(gate_logits.detach().clone().float(), requires_grad=gated)
        # Elements per tile (edge tiles are cropped), for the element-weighted density.
        rows = torch.tensor([min(tile_rows, d_out - i * tile_rows) for i in range(n_tiles[0])], dtype=torch.float32)
        cols = torch.tensor([min(tile_cols, d_in - j * tile_cols) for j in range(n_tiles[1])], dtype=torch.float32)
        self.register_buffer("tile_sizes", torch.outer(rows, cols), persistent=False)
        self.register_buffer("patterns", PATTERNS_24.clone(), persistent=False)
        self.temperature = temperature
        self.scale = scale
        self.hard = hard
        self.generator = generator

    # -- probabilities and density
    def pattern_probs(self) -> torch.Tensor:
        """Probability of each of the six patterns per group, shape ``(d_out, d_in/4, 6)``."""
        return torch.softmax(self.scale * self.pattern_logits, dim=-1)

    def gate_probs(self) -> torch.Tensor:
        """Probability that each tile is dense, shape ``(tiles_out, tiles_in)``; 0 when not gated."""
        if not self.gated:
            return torch.zeros_like(self.gate_logits)
        return torch.sigmoid(self.scale * self.gate_logits)

    def density(self) -> torch.Tensor:
        """Expected kept fraction: 0.5 + 0.5·(element-weighted dense-tile probability)."""
        dense = (self.gate_probs() * self.tile_sizes).sum() / self.tile_sizes.sum()
        return 0.5 + 0.5 * dense

    def sparsity(self) -> torch.Tensor:
        return 1.0 - self.density()

    def density_loss(self, target_density: float) -> torch.Tensor:
        """Squared gap to ``target_density`` in [0.5, 1] (global sparsity in [0, 0.5])."""
        _check_target(target_density, 0.5)
        return (self.density() - target_density) ** 2

    # -- masks
    def _expand_tiles(self, gate: torch.Tensor) -> torch.Tensor:
        rows, cols = self.tile
        d_out, d_in = self.shape
        return gate.repeat_interleave(rows, 0).repeat_interleave(cols, 1)[:d_out, :d_in]

    def _compose(self, choice: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        m24 = (choice @ self.patterns).reshape(self.shape)
        g = self._expand_tiles(gate)
        return g + (1.0 - g) * m24

    def sample(self) -> torch.Tensor:
        """A relaxed sample; binary (straight-through) when ``hard``."""
        _check_relaxation(self.temperature, self.scale)
        z = self.scale * self.pattern_logits + _gumbel_noise(self.pattern_logits, self.generator)
        choice = torch.softmax(z / self.temperature, dim=-1)
        if self.hard:
            one_hot = F.one_hot(z.argmax(-1), 6).to(choice.dtype)
            choice = _straight_through(one_hot, choice)
        if self.gated:
            zg = self.scale * self.gate_logits + _logistic_noise(self.gate_logits, self.generator)
            gate = torch.sigmoid(zg / self.temperature)
            if self.hard:
                gate = _straight_through((zg > 0).to(gate.dtype), gate)
        else:
            gate = torch.zeros_like(self.gate_logits)
        return self._compose(choice, gate)

    def hard_mask(self) -> torch.Tensor:
        """Exact mask: the most likely pattern per group, tiles with gate logit > 0 fully dense."""
        with torch.no_grad():
            one_hot = F.one_hot(self.pattern_logits.argmax(-1), 6).float()
            gate = (self.gate_logits > 0).float() if self.gated else torch.zeros_like(self.gate_logits)
            return self._compose(one_hot, gate)

    def dense_tiles(self) -> torch.Tensor:
        """Boolean ``(tiles_out, tiles_in)``: which tiles ``hard_mask()`` keeps dense."""
        if not self.gated:
            return torch.zeros(self.gate_logits.shape, dtype=torch.bool)
        return self.gate_logits.detach() > 0

    def forward(self) -> torch.Tensor:
        return self.sample() if self.training else self.hard_mask()

    def extra_repr(self) -> str:
        return (
            f"shape={self.shape}, tile={self.tile}, gated={self.gated}, "
            f"temperature={self.temperature:g}, scale={self.scale:g}, hard={self.hard}"
        )


# ----------------------------------------------------------------------------- layer
class MaskedLinear(nn.Module):
    """``nn.Linear`` with frozen weights times a learnable mask: ``y = x·(W ⊙ mask())ᵀ + b``.

    Freezes the wrapped layer's parameters so an optimizer over ``parameters()`` trains only the
    mask logits. ``to_linear()`` bakes the hard mask into a plain ``nn.Linear``.
    """

    def __init__(self, linear: nn.Linear, mask: nn.Module) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise ValueError(f"linear={type(linear).__name__} must be an nn.Linear")
        mask_shape = tuple(getattr(mask, "shape", ()))
        if mask_shape != tuple(linear.weight.shape):
            raise ValueError(f"mask.shape={mask_shape} must equal linear.weight.shape={tuple(linear.weight.shape)}")
        for p in linear.parameters():
            p.requires_grad_(False)
        self.linear = linear
        self.mask = mask

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.mask().to(self.linear.weight.dtype)
        return F.linear(x, self.linear.weight * mask, self.linear.bias)

    def to_linear(self) -> nn.Linear:
        """A plain ``nn.Linear`` holding ``W ⊙ hard_mask()`` (and the bias)."""
        out = nn.Linear(
            self.linear.in_features,
            self.linear.out_features,
            bias=self.linear.bias is not None,
            device=self.linear.weight.device,
            dtype=self.linear.weight.dtype,
        )
        with torch.no_grad():
            out.weight.copy_(self.linear.weight * self.mask.hard_mask().to(self.linear.weight.dtype))
            if self.linear.bias is not None:
                out.bias.copy_(self.linear.bias)
        return out
