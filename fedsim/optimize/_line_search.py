"""P1 (Kim et al., ICC 2022): one precision m = n, I and K fixed, line search for the energy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedsim._checks import check_int
from fedsim.errors import ConfigError
from fedsim.theory import QflModel

_MAX_BITS = 32


@dataclass(frozen=True, eq=False)
class LineSearchResult:
    """The energy-optimal precision and the whole curve it was picked from.

    ``n`` is the best precision (m = n), ``energy_j``/``rounds`` its E_total and T;
    ``n_values``, ``energy_curve_j``, ``rounds_curve`` the curve over every integer n in
    [n_min, n_max]; ``full_precision_energy_j`` is E_total at n = 32 and ``savings`` the relative
    energy saved by the best n over it (0.25 = 25% less).
    """

    I: int  # noqa: E741
    K: int
    n: int
    energy_j: float
    rounds: float
    n_values: np.ndarray
    energy_curve_j: np.ndarray
    rounds_curve: np.ndarray
    full_precision_energy_j: float

    @property
    def savings(self) -> float:
        return 1.0 - self.energy_j / self.full_precision_energy_j


def line_search_precision(
    model: QflModel, I: int, K: int, *, n_max: int = _MAX_BITS  # noqa: E741
) -> LineSearchResult:
    """Minimize E_total(I, K, m = n, n) over integer n ∈ [n_min, n_max] (an exhaustive line
    search: the curve is U-shaped — the error floor blows T up near n_min, the per-bit costs
    grow with n — and has only n_max − n_min + 1 points)."""
    if not isinstance(model, QflModel):
        raise ConfigError("line_search.model", model, "a fedsim.theory.QflModel")
    I = check_int("line_search.I", I, 1)  # noqa: E741
    K = check_int("line_search.K", K, 1, model.sigma.size)
    n_max = check_int("line_search.n_max", n_max, 1, _MAX_BITS)
    n_min = model.n_min()
    if n_min > n_max:
        raise ConfigError("line_search.n_max", n_max, f"an integer >= n_min = {n_min}")
    n_values = np.arange(n_min, n_max + 1)
    energy = np.asarray(model.total_energy(I, K, n_values, n_values), dtype=float)
    rounds = np.asarray(model.rounds(I, K, n_values, n_values), dtype=float)
    best = int(np.argmin(energy))
    full = float(model.total_energy(I, K, _MAX_BITS, _MAX_BITS))
    return LineSearchResult(
        I=I,
        K=K,
        n=int(n_values[best]),
        energy_j=float(energy[best]),
        rounds=float(rounds[best]),
        n_values=n_values,
        energy_curve_j=energy,
        rounds_curve=rounds,
        full_precision_energy_j=full,
    )
