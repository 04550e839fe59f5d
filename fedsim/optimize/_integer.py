"""Integer variables: relax-round-filter on top of NBI, and the exhaustive grid as a cross-check."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import numpy as np
from pymoo.core.problem import Problem

from fedsim._checks import check_int
from fedsim.errors import ConfigError
from fedsim.optimize._nbi import _check_problem, nbi
from fedsim.optimize._pareto import pareto_filter
from fedsim.optimize._result import ParetoResult

_GRID_CHUNK = 200_000


def _evaluate(problem: Problem, X: np.ndarray) -> np.ndarray:
    out = problem.evaluate(X, return_values_of=["F"])
    return np.asarray(out, dtype=float).reshape(X.shape[0], problem.n_obj)


def _integer_indices(problem: Problem, integer_vars: Sequence[int] | None) -> np.ndarray:
    if integer_vars is None:
        integer_vars = getattr(problem, "integer_vars", range(problem.n_var))
    idx = np.unique(np.asarray(list(integer_vars), dtype=int))
    if idx.size and (idx.min() < 0 or idx.max() >= problem.n_var):
        raise ConfigError("integer_vars", list(integer_vars), f"indices in [0, {problem.n_var})")
    return idx


def round_neighbours(
    X: np.ndarray, integer_vars: Sequence[int], xl: np.ndarray, xu: np.ndarray
) -> np.ndarray:
    """All floor/ceil combinations of the integer variables of each row (2^k per row at most),
    within the integer part of the bounds; continuous variables are kept. Unique rows."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    idx = np.asarray(list(integer_vars), dtype=int)
    if idx.size == 0:
        return np.unique(X, axis=0)
    lo, hi = np.ceil(xl[idx]), np.floor(xu[idx])
    if np.any(lo > hi):
        raise ConfigError(
            "bounds", (xl.tolist(), xu.tolist()), "an integer inside every integer variable's range"
        )
    floors = np.clip(np.floor(X[:, idx]), lo, hi)
    ceils = np.clip(np.ceil(X[:, idx]), lo, hi)
    rows = []
    for pattern in itertools.product((False, True), repeat=idx.size):
        Y = X.copy()
        Y[:, idx] = np.where(np.array(pattern), ceils, floors)
        rows.append(Y)
    return np.unique(np.vstack(rows), axis=0)


def integer_nbi(
    problem: Problem,
    n_points: int = 50,
    *,
    integer_vars: Sequence[int] | None = None,
    seed: int = 0,
    **nbi_options: object,
) -> ParetoResult:
    """NBI on the relaxation, then the floor/ceil neighbours of every relaxed solution.

    Every subproblem solution (dominated ones included) and every anchor is rounded: each integer
    variable to its floor and its ceiling (all 2^k combinations), the neighbours are evaluated and
    the non-dominated integer points kept. ``integer_vars`` defaults to ``problem.integer_vars``
    if the problem has one, else all variables. Further keywords go to ``nbi``.
    """
    started = time.perf_counter()
    problem = _check_problem(problem)
    idx = _integer_indices(problem, integer_vars)
    relaxed = nbi(problem, n_points, seed=seed, **nbi_options)  # type: ignore[arg-type]
    xl = np.broadcast_to(np.asarray(problem.xl, dtype=float), (problem.n_var,))
    xu = np.broadcast_to(np.asarray(problem.xu, dtype=float), (problem.n_var,))
    assert relaxed.candidates_X is not None
    X = round_neighbours(np.vstack([relaxed.candidates_X, relaxed.anchors]), idx, xl, xu)
    F = _evaluate(problem, X)
    keep = pareto_filter(F)
    anchors = round_neighbours(relaxed.anchors, idx, xl, xu)
    anchors_F = _evaluate(problem, anchors)
    best = [int(np.lexsort(np.roll(anchors_F, -i, axis=1).T[::-1])[0]) for i in range(problem.n_obj)]
    return ParetoResult(
        X=X[keep],
        F=F[keep],
        anchors=anchors[best],
        anchors_F=anchors_F[best],
        n_evals=relaxed.n_evals + X.shape[0] + anchors.shape[0],
        method="integer_nbi",
        time_s=time.perf_counter() - started,
        payoff=relaxed.payoff,
        utopia=relaxed.utopia,
        nadir=relaxed.nadir,
        n_subproblems=relaxed.n_subproblems,
        n_stalled=relaxed.n_stalled,
        candidates_X=X,
        candidates_F=F,
    )


def exhaustive_front(
    problem: Problem, grids: Sequence[Sequence[float]] | None = None, *, chunk_size: int = _GRID_CHUNK
) -> ParetoResult:
    """The non-dominated points of the full Cartesian grid ``grids`` (one 1-D array per variable;
    default ``problem.integer_grids()`` if the problem has it, else every integer within the
    bounds), evaluated in chunks. The cross-check for small problems."""
    started = time.perf_counter()
    problem = _check_problem(problem)
    if grids is None and hasattr(problem, "integer_grids"):
        grids = problem.integer_grids()  # type: ignore[attr-defined]
    elif grids is None:
        xl = np.broadcast_to(np.asarray(problem.xl, dtype=float), (problem.n_var,))
        xu = np.broadcast_to(np.asarray(problem.xu, dtype=float), (problem.n_var,))
        grids = [np.arange(np.ceil(lo), np.floor(hi) + 1.0) for lo, hi in zip(xl, xu)]
    axes = [np.asarray(g, dtype=float).reshape(-1) for g in grids]
    if len(axes) != problem.n_var or any(a.size == 0 for a in axes):
        raise ConfigError("grids", f"{len(axes)} axes", f"{problem.n_var} non-empty 1-D arrays")
    check_int("chunk_size", chunk_size, 1)
    shape = tuple(a.size for a in axes)
    total = int(np.prod(shape))
    front_X = np.zeros((0, problem.n_var))
    front_F = np.zeros((0, problem.n_obj))
    for start in range(0, total, chunk_size):
        flat = np.arange(start, min(total, start + chunk_size))
        index = np.unravel_index(flat, shape)
        X = np.column_stack([axis[i] for axis, i in zip(axes, index)])
        F = _evaluate(problem, X)
        X, F = np.vstack([front_X, X]), np.vstack([front_F, F])
        keep = pareto_filter(F)
        front_X, front_F = X[keep], F[keep]
    if front_F.shape[0] == 0:
        raise ConfigError("grids", f"{total} points", "a grid with at least one finite objective vector")
    anchor_rows = [int(np.lexsort(np.roll(front_F, -i, axis=1).T[::-1])[0]) for i in range(problem.n_obj)]
    return ParetoResult(
        X=front_X,
        F=front_F,
        anchors=front_X[anchor_rows],
        anchors_F=front_F[anchor_rows],
        n_evals=total,
        method="exhaustive",
        time_s=time.perf_counter() - started,
    )
