"""Pareto filtering: keep the non-dominated, distinct objective vectors."""

from __future__ import annotations

import numpy as np
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

# pymoo's non-dominated sorting is O(M·N²); larger 2-objective sets are first thinned by a sort.
_SORT_FILTER_ABOVE = 2_000


def _two_objective_candidates(F: np.ndarray) -> np.ndarray:
    """Indices surviving a sort by (f1, f2) and a running minimum of f2 (superset of the front)."""
    order = np.lexsort((F[:, 1], F[:, 0]))
    f2 = F[order, 1]
    best_before = np.concatenate(([np.inf], np.minimum.accumulate(f2)[:-1]))
    return order[f2 < best_before]


def pareto_filter(F: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of F (minimization), one per distinct objective vector,
    ordered by the first objective. Rows with a non-finite value are never kept."""
    F = np.asarray(F, dtype=float)
    if F.ndim != 2 or F.shape[0] == 0:
        return np.zeros(0, dtype=int)
    finite = np.flatnonzero(np.all(np.isfinite(F), axis=1))
    if finite.size == 0:
        return np.zeros(0, dtype=int)
    candidates = finite
    if F.shape[1] == 2 and candidates.size > _SORT_FILTER_ABOVE:
        candidates = candidates[_two_objective_candidates(F[candidates])]
    keep = NonDominatedSorting().do(F[candidates], only_non_dominated_front=True)
    kept = candidates[np.asarray(keep, dtype=int)]
    # Distinct objective vectors only (the first design that reaches each one).
    _, first = np.unique(F[kept], axis=0, return_index=True)
    kept = kept[np.sort(first)]
    return kept[np.lexsort(F[kept].T[::-1])]
