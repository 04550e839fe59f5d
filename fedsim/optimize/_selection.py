"""Picking one operating point from a Pareto front: Nash bargaining, SUM, anchors.

Each rule takes the front's objective values F (k, n_obj) — or a ParetoResult — and returns the
row index of the chosen point, so the caller reads both ``result.X[i]`` and ``result.F[i]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_bool, check_choice, check_int
from fedsim.errors import ConfigError
from fedsim.theory._names import DISAGREEMENT_KINDS
from fedsim.optimize._result import ParetoResult



def _front(F: ArrayLike | ParetoResult) -> np.ndarray:
    values = F.F if isinstance(F, ParetoResult) else F
    array = np.asarray(values, dtype=float)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2:
        raise ConfigError("front", f"shape {array.shape}", "a (points, objectives) array, objectives >= 2")
    return array


def nash_bargaining(F: ArrayLike | ParetoResult, disagreement: ArrayLike) -> int:
    """Nash bargaining solution: argmax Π_i (d_i − F_i) over the points with F < d (all i).

    Invariant to rescaling any objective (with d rescaled the same way), so the disagreement
    point d alone decides the answer. Raises ConfigError if no point improves on d in every
    objective.
    """
    front = _front(F)
    d = np.asarray(disagreement, dtype=float).reshape(-1)
    if d.size != front.shape[1] or not np.all(np.isfinite(d)):
        raise ConfigError("disagreement", disagreement, f"{front.shape[1]} finite numbers")
    gain = d - front
    admissible = np.all(gain > 0, axis=1) & np.all(np.isfinite(front), axis=1)
    if not np.any(admissible):
        raise ConfigError(
            "disagreement", d.tolist(), "a point that some front point beats in every objective"
        )
    # Σ log(d_i − F_i): the same argmax as the product, without overflow or underflow.
    score = np.full(front.shape[0], -np.inf)
    score[admissible] = np.sum(np.log(gain[admissible]), axis=1)
    return int(np.argmax(score))


def sum_rule(F: ArrayLike | ParetoResult, normalize: bool = False) -> int:
    """argmin Σ_i F_i.

    ``normalize=False`` (the Green-QFL release's SUM point) adds the raw objectives, e.g. joules
    plus rounds, so the answer depends on the units. ``normalize=True`` first maps each objective
    to [0, 1] over the front ((F − min)/(max − min)), which makes it unit-free.
    """
    front = _front(F)
    check_bool("normalize", normalize)
    values = front
    if normalize:
        lo, hi = front.min(axis=0), front.max(axis=0)
        values = (front - lo) / np.where(hi > lo, hi - lo, 1.0)
    return int(np.argmin(values.sum(axis=1)))


def anchor(F: ArrayLike | ParetoResult, i: int) -> int:
    """The point minimizing objective i (ties broken by the next objectives, cyclically):
    ``anchor(F, 0)`` is E_min, ``anchor(F, 1)`` is T_min for the Green-QFL problem."""
    front = _front(F)
    check_int("objective", i, 0, front.shape[1] - 1)
    keys = np.roll(front, -int(i), axis=1).T[::-1]
    return int(np.lexsort(keys)[0])


def disagreement_point(
    kind: str,
    *,
    front: ArrayLike | ParetoResult | None = None,
    problem: Any = None,
    x: ArrayLike | None = None,
    budgets: ArrayLike | None = None,
) -> np.ndarray:
    """The disagreement point d for ``nash_bargaining``.

    - ``"paper"``: the Green-QFL release's, F at (I = 30, K = 1, m = 1, n = n_min); needs a
      ``problem`` with ``paper_disagreement()`` (``GreenQflProblem``).
    - ``"pseudo_nadir"``: the payoff-table pseudo-nadir of an NBI result (``front``), or the
      per-objective maximum of a front given as an array.
    - ``"baseline"``: F of a baseline design ``x`` (e.g. full precision) under ``problem``.
    - ``"budgets"``: the given per-objective ``budgets`` (e.g. a joule and a round budget).
    """
    check_choice("disagreement.kind", kind, DISAGREEMENT_KINDS)
    if kind == "paper":
        if problem is None or not hasattr(problem, "paper_disagreement"):
            raise ConfigError("disagreement.problem", problem, "a GreenQflProblem for kind='paper'")
        return np.asarray(problem.paper_disagreement(), dtype=float)
    if kind == "pseudo_nadir":
        if front is None:
            raise ConfigError(
                "disagreement.front", None, "a ParetoResult or front array for kind='pseudo_nadir'"
            )
        if isinstance(front, ParetoResult) and front.nadir is not None:
            return np.asarray(front.nadir, dtype=float).copy()
        return _front(front).max(axis=0)
    if kind == "baseline":
        if problem is None or x is None:
            raise ConfigError("disagreement.x", x, "a design x and its problem for kind='baseline'")
        X = np.atleast_2d(np.asarray(x, dtype=float))
        return np.asarray(problem.evaluate(X, return_values_of=["F"]), dtype=float)[0]
    if budgets is None:
        raise ConfigError("disagreement.budgets", None, "one budget per objective for kind='budgets'")
    d = np.asarray(budgets, dtype=float).reshape(-1)
    if not np.all(np.isfinite(d)):
        raise ConfigError("disagreement.budgets", budgets, "finite numbers, one per objective")
    return d
