"""NSGA-II through pymoo's ``minimize``, returned as a ParetoResult for side-by-side comparison."""

from __future__ import annotations

import time

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import Problem
from pymoo.optimize import minimize

from fedsim._checks import check_int
from fedsim.errors import ConfigError
from fedsim.optimize._pareto import pareto_filter
from fedsim.optimize._result import ParetoResult


def nsga2_front(problem: Problem, n_evals: int, *, pop_size: int = 100, seed: int = 0) -> ParetoResult:
    """Run pymoo's NSGA-II for ``n_evals`` evaluations and return its non-dominated set."""
    if not isinstance(problem, Problem):
        raise ConfigError("problem", problem, "a pymoo Problem")
    check_int("nsga2.n_evals", n_evals, 1)
    check_int("nsga2.pop_size", pop_size, 2)
    check_int("nsga2.seed", seed, 0)
    started = time.perf_counter()
    res = minimize(
        problem, NSGA2(pop_size=pop_size), ("n_eval", int(n_evals)), seed=int(seed), verbose=False
    )
    X = np.atleast_2d(np.asarray(res.opt.get("X"), dtype=float))
    F = np.atleast_2d(np.asarray(res.opt.get("F"), dtype=float))
    keep = pareto_filter(F)
    empty = np.zeros((0, problem.n_var))
    return ParetoResult(
        X=X[keep],
        F=F[keep],
        anchors=empty,
        anchors_F=np.zeros((0, problem.n_obj)),
        n_evals=int(res.algorithm.evaluator.n_eval),
        method="nsga2",
        time_s=time.perf_counter() - started,
    )
