"""The convergence bound of FL over unreliable links (Chen et al., IEEE TWC 2021, the form
reconstructed for the UAV swarm in uav_swarm.md), its rounds to a target, and a fit to a task.

With data sizes K_i, scheduling a_i ∈ {0, 1} and success probabilities s_i, the expected
optimality gap G_t = E[F(w_t)] − F* obeys G_{t+1} ≤ A·G_t + B0 with

    A  = 1 − μ/L + (4μζ2/L)·u,   B0 = (2ζ1/L)·u,   u = Σ_i K_i(1 − a_i s_i) / Σ_i K_i,

u being the expected share of the data whose update does not arrive. A design that schedules R
of N followers per round enters through the expected a_i: 1 or 0 for a deterministic schedule,
R/N for uniform random scheduling.

``fit_swarm_bound`` estimates μ/L, c2 = 4μζ2/L and c1 = 2ζ1/L from loss curves without hand
tuning: bounded least squares of the recursion over runs whose realised u_t (from the ledger:
the data whose update did not arrive) is known. The fitted μ/L is the task's effective one for
the designs fitted on; with IID data a round in which any update arrives progresses nearly as
much as a full-participation round, which the bound's linear dependence on u can only average.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_float
from fedsim.errors import ConfigError


@dataclass(frozen=True)
class SwarmBound:
    """μ/L, c2 = 4μζ2/L and c1 = 2ζ1/L of the bound (ζ1, ζ2 bound ‖∇f‖² ≤ ζ1 + ζ2‖∇F‖²)."""

    mu_over_l: float
    c2: float
    c1: float

    def __post_init__(self) -> None:
        check_float("mu_over_l", self.mu_over_l, low=0, high=1, low_open=True)
        check_float("c2", self.c2, low=0)
        check_float("c1", self.c1, low=0)

    def contraction(self, undelivered_share: ArrayLike) -> np.ndarray:
        """A(u) = 1 − μ/L + c2·u."""
        return 1.0 - self.mu_over_l + self.c2 * np.asarray(undelivered_share, float)

    def floor_term(self, undelivered_share: ArrayLike) -> np.ndarray:
        """B0(u) = c1·u."""
        return self.c1 * np.asarray(undelivered_share, float)

    def gap_curve(self, initial_gap: float, undelivered_share: ArrayLike) -> np.ndarray:
        """G_0..G_T by the recursion G_{t+1} = A(u_t)·G_t + B0(u_t), one u_t per round."""
        u = np.atleast_1d(np.asarray(undelivered_share, float))
        gaps = np.empty(u.size + 1)
        gaps[0] = initial_gap
        for t, share in enumerate(u):
            gaps[t + 1] = self.contraction(share) * gaps[t] + self.floor_term(share)
        return gaps

    def rounds_to_gap(self, target_gap: float, initial_gap: float, undelivered_share: float) -> float:
        """The first round t with G_t ≤ target at a constant u (inf when the floor
        B0/(1 − A) is not below the target or A ≥ 1)."""
        a = float(self.contraction(undelivered_share))
        b = float(self.floor_term(undelivered_share))
        if initial_gap <= target_gap:
            return 0.0
        if a >= 1.0:
            return math.inf
        floor = b / (1.0 - a)
        if floor >= target_gap:
            return math.inf
        # G_t = floor + A^t (G_0 − floor) <= target
        return float(math.ceil(math.log((target_gap - floor) / (initial_gap - floor)) / math.log(a)))


def undelivered_share(data_sizes: ArrayLike, scheduled: ArrayLike, success: ArrayLike) -> float:
    """u = Σ K_i(1 − a_i s_i)/Σ K_i (a_i: expected scheduling, s_i: success probability)."""
    k = np.asarray(data_sizes, float)
    return float(np.sum(k * (1.0 - np.asarray(scheduled, float) * np.asarray(success, float))) / np.sum(k))


def fit_swarm_bound(gaps: Sequence[ArrayLike], shares: Sequence[ArrayLike]) -> SwarmBound:
    """Fit the bound to a task (see the module docstring): least squares of
    G_{t+1} = (1 − μ/L)·G_t + c2·u_t·G_t + c1·u_t over every round of the runs, with
    0 < μ/L ≤ 1 and c1, c2 ≥ 0 (scipy ``lsq_linear``). ``gaps[j]``: G_0..G_T of run j;
    ``shares[j]``: its realised u_1..u_T (the data whose update did not arrive). The runs must
    span several u (different designs, or different links) for c2 to be identifiable.
    """
    from scipy.optimize import lsq_linear

    rows, target = [], []
    for curve, share in zip(gaps, shares):
        g = np.asarray(curve, float)
        u = np.asarray(share, float)
        if g.size != u.size + 1 or not np.all(np.isfinite(g)):
            raise ConfigError("shares", f"{u.size} values", f"one u_t per round of its finite gap curve ({g.size - 1})")
        rows.append(np.column_stack([g[:-1], u * g[:-1], u]))
        target.append(g[1:])
    if not rows:
        raise ConfigError("gaps", 0, "at least one run to fit")
    fit = lsq_linear(np.vstack(rows), np.concatenate(target), bounds=([0.0, 0.0, 0.0], [1.0 - 1e-6, np.inf, np.inf]))
    keep, c2, c1 = (float(v) for v in fit.x)
    return SwarmBound(mu_over_l=1.0 - keep, c2=c2, c1=c1)
