"""Normal Boundary Intersection (Das & Dennis, SIAM J. Optim. 8(3), 1998) on a pymoo Problem.

1. Anchors: x_i* minimizes f_i, made lexicographic so an anchor is not weakly Pareto: SLSQP on
   f_i alone from several starts (the box centre and the best of a seeded random sample), then
   on f_i + 1e-3·f_(i+1) + 1e-6·f_(i+2) + ... (cyclic, each objective in units of its payoff
   range) from every stage-1 minimizer, then a polish that moves to a dominating point if there
   is one (min Σ f_j/r_j s.t. F ≤ F(anchor)). Payoff matrix Φ (column i = F(x_i*) − F*), utopia F* and
   payoff-table pseudo-nadir; objectives normalized by them (F̄ = (F − F*)/(nadir − F*)).
2. CHIM points Φ̄β, β on the Das–Dennis simplex lattice (pymoo's reference directions);
   quasi-normal n̂ = −Φ̄e (towards the utopia).
3. Subproblem per β: max t s.t. Φ̄β + t·n̂ = F̄(x), x within bounds; SciPy SLSQP with the equality
   constraints passed to SciPy directly (pymoo's SciPy wrapper drops equality constraints),
   warm-started from the nearest solved β. A stalled subproblem keeps its start point.
4. Pareto filter (NBI returns dominated points on non-convex parts of the boundary).

Variables are optimized in the unit box u = (x − xl)/(xu − xl); gradients are forward finite
differences evaluated as one batch per Jacobian, so ``n_evals`` counts every probe.
"""

from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from math import comb

import numpy as np
from pymoo.core.problem import Problem
from pymoo.util.ref_dirs import get_reference_directions
from scipy.optimize import minimize as scipy_minimize

from fedsim._checks import check_float, check_int
from fedsim.errors import ConfigError
from fedsim.optimize._pareto import pareto_filter
from fedsim.optimize._result import ParetoResult

_LEXICOGRAPHIC_WEIGHT = 1e-3
_CACHE_SIZE = 64


def _check_problem(problem: object) -> Problem:
    if not isinstance(problem, Problem):
        raise ConfigError("problem", problem, "a pymoo Problem")
    if problem.n_obj < 2:
        raise ConfigError("problem.n_obj", problem.n_obj, "at least 2 objectives")
    if getattr(problem, "n_ieq_constr", 0) or getattr(problem, "n_eq_constr", 0):
        raise ConfigError("problem", type(problem).__name__, "a problem with bounds only")
    xl, xu = problem.xl, problem.xu
    if xl is None or xu is None:
        raise ConfigError("problem.bounds", (xl, xu), "finite lower and upper bounds xl < xu")
    xl = np.broadcast_to(np.asarray(xl, dtype=float), (problem.n_var,))
    xu = np.broadcast_to(np.asarray(xu, dtype=float), (problem.n_var,))
    if not (np.all(np.isfinite(xl)) and np.all(np.isfinite(xu)) and np.all(xl <= xu)):
        raise ConfigError("problem.bounds", (xl.tolist(), xu.tolist()), "finite xl <= xu")
    return problem


class _Evaluator:
    """Batched objective evaluation in the unit box, with a small cache and an evaluation count."""

    def __init__(self, problem: Problem, fd_step: float) -> None:
        self.problem = problem
        self.n_var, self.n_obj = problem.n_var, problem.n_obj
        self.xl = np.broadcast_to(np.asarray(problem.xl, dtype=float), (self.n_var,)).copy()
        self.xu = np.broadcast_to(np.asarray(problem.xu, dtype=float), (self.n_var,)).copy()
        self.span = self.xu - self.xl
        self.fd_step = fd_step
        self.n_evals = 0
        self._cache: OrderedDict[bytes, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()

    def to_x(self, U: np.ndarray) -> np.ndarray:
        return self.xl + np.clip(U, 0.0, 1.0) * self.span

    def evaluate(self, U: np.ndarray) -> np.ndarray:
        U = np.atleast_2d(np.asarray(U, dtype=float))
        out = self.problem.evaluate(self.to_x(U), return_values_of=["F"])
        self.n_evals += U.shape[0]
        return np.asarray(out, dtype=float).reshape(U.shape[0], self.n_obj)

    def _lookup(self, u: np.ndarray, need_jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
        key = np.clip(u, 0.0, 1.0).tobytes()
        hit = self._cache.get(key)
        if hit is not None and (hit[1] is not None or not need_jac):
            self._cache.move_to_end(key)
            return hit
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        if need_jac:
            steps = np.full(self.n_var, self.fd_step)
            steps[u + steps > 1.0] *= -1.0  # probe inside the box at the upper bound
            probes = np.vstack([u, u + np.diag(steps)])
            values = self.evaluate(probes)
            f = values[0]
            jac = ((values[1:] - f) / steps[:, None]).T  # (n_obj, n_var)
        else:
            f, jac = self.evaluate(u[None, :])[0], None
        self._cache[key] = (f, jac)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return f, jac

    def value(self, u: np.ndarray) -> np.ndarray:
        return self._lookup(u, need_jac=False)[0]

    def value_jac(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f, jac = self._lookup(u, need_jac=True)
        assert jac is not None
        return f, jac


def _robust_scale(values: np.ndarray) -> float:
    """A positive scale for an objective from sampled values (median absolute deviation)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1.0
    mad = float(np.median(np.abs(finite - np.median(finite))))
    if mad > 0:
        return mad
    return max(float(np.max(np.abs(finite))), 1.0)


def _minimize_scalar(
    ev: _Evaluator, weights: np.ndarray, u0: np.ndarray, maxiter: int
) -> tuple[np.ndarray, float]:
    """min_u weights·F(u) over the unit box with SLSQP; returns (u, value)."""

    def fun(u: np.ndarray) -> float:
        value = float(weights @ ev.value(u))
        return value if np.isfinite(value) else 1e300

    def jac(u: np.ndarray) -> np.ndarray:
        grad = weights @ ev.value_jac(u)[1]
        return np.where(np.isfinite(grad), grad, 0.0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = scipy_minimize(
            fun, u0, jac=jac, method="SLSQP", bounds=[(0.0, 1.0)] * ev.n_var,
            options={"maxiter": maxiter, "ftol": 1e-12},
        )
    u = np.clip(res.x, 0.0, 1.0)
    value = float(weights @ ev.value(u))
    start_value = float(weights @ ev.value(u0))
    if not np.isfinite(value) or (np.isfinite(start_value) and start_value < value):
        return u0, start_value
    return u, value


def _anchors(
    ev: _Evaluator, rng: np.random.Generator, n_starts: int, maxiter: int
) -> np.ndarray:
    """Lexicographic anchors in the unit box, one row per objective."""
    M = ev.n_obj
    sample = np.vstack([np.full(ev.n_var, 0.5), rng.random((max(8, 2 * ev.n_var), ev.n_var))])
    sample_F = ev.evaluate(sample)
    scale = np.array([_robust_scale(sample_F[:, j]) for j in range(M)])

    # Stage 1: min f_i alone, from the centre and the best sampled points.
    plain = []
    for i in range(M):
        ranked = np.argsort(np.where(np.isfinite(sample_F[:, i]), sample_F[:, i], np.inf))
        starts = [sample[0]] + [sample[k] for k in ranked if k != 0][: max(0, n_starts - 1)]
        weights = np.eye(M)[i] / scale[i]
        best = min((_minimize_scalar(ev, weights, s, maxiter) for s in starts), key=lambda r: r[1])
        plain.append(best[0])
    plain_F = np.array([ev.value(u) for u in plain])

    # Stage 2: lexicographic refinement f_i + 1e-3·f_(i+1) + 1e-6·f_(i+2) + ... (cyclic), each
    # objective in units of its payoff range so the tie-break does not depend on the scaling.
    # With 3+ objectives the tail matters: f_i + 1e-3·f_next alone can stop at a weakly Pareto
    # point (DTLZ2: f1 = f2 = 0 does not pin down f3).
    ranges = plain_F.max(axis=0) - plain_F.min(axis=0)
    ranges = np.where(ranges > 0, ranges, scale)
    anchors = []
    for i in range(M):
        weights = np.zeros(M)
        for k in range(M):
            weights[(i + k) % M] = _LEXICOGRAPHIC_WEIGHT**k / ranges[(i + k) % M]
        # From every stage-1 minimizer: a minimizer of f_i alone can sit on a stationary point of
        # the tie-break terms (DTLZ2's x1 = 1 edge), while starting from the minimizer of f_next
        # and descending f_i tends to keep f_next low.
        starts = [plain[(i + k) % M] for k in range(M)]
        results = [_minimize_scalar(ev, weights, s, maxiter) for s in starts]
        best = min(results, key=lambda r: r[1])[0]
        anchors.append(_polish(ev, best, ranges, maxiter))
    return np.array(anchors)


def _polish(ev: _Evaluator, u0: np.ndarray, ranges: np.ndarray, maxiter: int) -> np.ndarray:
    """A point dominating u0 if SLSQP finds one: min Σ F_j/r_j s.t. F_j ≤ F_j(u0) for all j.

    The tie-break weights 1e-3^k are too small to settle the tail objectives precisely; this step
    removes what is left (e.g. DTLZ2's distance g > 0) without giving up any objective.
    """
    f0 = ev.value(u0)
    if not np.all(np.isfinite(f0)):
        return u0
    weights = 1.0 / ranges

    def fun(u: np.ndarray) -> float:
        return float(weights @ ev.value(u))

    def jac(u: np.ndarray) -> np.ndarray:
        return weights @ ev.value_jac(u)[1]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = scipy_minimize(
            fun, u0, jac=jac, method="SLSQP", bounds=[(0.0, 1.0)] * ev.n_var,
            constraints=[{
                "type": "ineq",
                "fun": lambda u: (f0 - ev.value(u)) * weights,
                "jac": lambda u: -ev.value_jac(u)[1] * weights[:, None],
            }],
            options={"maxiter": maxiter, "ftol": 1e-12},
        )
    u = np.clip(res.x, 0.0, 1.0)
    f = ev.value(u)
    if np.all(np.isfinite(f)) and np.all(f <= f0) and np.any(f < f0):
        return u
    return u0


def _lattice(n_obj: int, n_points: int, n_partitions: int | None) -> np.ndarray:
    if n_partitions is None:
        n_partitions = 1
        while comb(n_partitions + n_obj - 1, n_obj - 1) < n_points:
            n_partitions += 1
    return get_reference_directions("das-dennis", n_obj, n_partitions=n_partitions)


def nbi(
    problem: Problem,
    n_points: int = 50,
    *,
    n_partitions: int | None = None,
    seed: int = 0,
    n_starts: int = 4,
    maxiter: int = 100,
    fd_step: float = 1e-7,
    constraint_tol: float = 1e-5,
    chim_expansion: float = 0.0,
) -> ParetoResult:
    """Pareto front of a bound-constrained pymoo Problem by Normal Boundary Intersection.

    Parameters
    ----------
    problem: a pymoo ``Problem`` with finite ``xl``/``xu``, n_obj ≥ 2, no other constraints;
        its variables are treated as continuous (see ``integer_nbi`` for integer variables).
    n_points: number of CHIM points (β on the Das–Dennis lattice, vertices included); the lattice
        is the smallest with at least this many points unless ``n_partitions`` is given.
    seed: seeds the random starts of the anchor searches.
    n_starts: SLSQP starts per anchor (the box centre and the best sampled points).
    maxiter: SLSQP iteration limit per anchor or subproblem.
    fd_step: forward finite-difference step in the unit box.
    constraint_tol: largest |Φ̄β + t·n̂ − F̄(x)| (normalized units) for a solved subproblem;
        above it the subproblem counts as stalled and keeps its start point.
    chim_expansion: δ ≥ 0 maps each lattice β to (1 + M·δ)·β − δ, a larger simplex around the
        CHIM. With 3+ objectives the normals from the CHIM itself do not reach the whole front
        (Das & Dennis 1998 note this), e.g. DTLZ2's edges stay empty; δ ≈ 0.1 covers them. The
        default 0 is plain NBI. Points from outside the CHIM that land on already covered parts
        are removed by the Pareto filter (duplicates) or count as stalled.
    """
    started = time.perf_counter()
    problem = _check_problem(problem)
    check_int("nbi.n_points", n_points, 2)
    if n_partitions is not None:
        check_int("nbi.n_partitions", n_partitions, 1)
    check_int("nbi.seed", seed, 0)
    check_int("nbi.n_starts", n_starts, 1)
    check_int("nbi.maxiter", maxiter, 1)
    check_float("nbi.fd_step", fd_step, low=0, low_open=True, high=0.1)
    check_float("nbi.constraint_tol", constraint_tol, low=0, low_open=True)
    check_float("nbi.chim_expansion", chim_expansion, low=0, high=1)

    ev = _Evaluator(problem, fd_step)
    M = ev.n_obj
    rng = np.random.default_rng(seed)
    anchor_u = _anchors(ev, rng, n_starts, maxiter)
    anchor_F = np.array([ev.value(u) for u in anchor_u])
    utopia = anchor_F.min(axis=0)
    nadir = anchor_F.max(axis=0)
    span = np.where(nadir - utopia > 0, nadir - utopia, 1.0)
    payoff = (anchor_F - utopia).T  # column i: F(x_i*) − F*
    payoff_bar = payoff / span[:, None]
    normal = -payoff_bar @ np.ones(M)
    normal_sq = float(normal @ normal)

    base = _lattice(M, n_points, n_partitions)
    betas = (1.0 + M * chim_expansion) * base - chim_expansion
    solved_beta: list[np.ndarray] = []
    solved_u: list[np.ndarray] = []
    for i in range(M):  # lattice vertices are the anchors themselves
        solved_beta.append(np.eye(M)[i])
        solved_u.append(anchor_u[i])

    points = list(anchor_u)
    n_sub = n_stalled = 0
    degenerate = normal_sq <= 1e-24  # all anchors coincide: the front is one point
    for beta, base_beta in zip(betas, base):
        if degenerate or (chim_expansion == 0.0 and np.isclose(base_beta.max(), 1.0)):
            continue
        n_sub += 1
        target = payoff_bar @ beta
        nearest = int(np.argmin(np.linalg.norm(np.array(solved_beta) - beta, axis=1)))
        u_start = solved_u[nearest]
        candidates = [u_start, np.clip(beta @ anchor_u, 0.0, 1.0)]
        solution = None
        for u0 in candidates:
            solution = _solve_subproblem(
                ev, u0, target, normal, normal_sq, utopia, span, maxiter, constraint_tol
            )
            if solution is not None:
                break
        if solution is None:
            n_stalled += 1
            solution = u_start
        else:
            points.append(solution)
        solved_beta.append(beta)
        solved_u.append(solution)

    U = np.array(points)
    X_all = ev.to_x(U)
    F_all = np.array([ev.value(u) for u in U])
    keep = pareto_filter(F_all)
    return ParetoResult(
        X=X_all[keep],
        F=F_all[keep],
        anchors=ev.to_x(anchor_u),
        anchors_F=anchor_F,
        n_evals=ev.n_evals,
        method="nbi",
        time_s=time.perf_counter() - started,
        payoff=payoff,
        utopia=utopia,
        nadir=nadir,
        n_subproblems=n_sub,
        n_stalled=n_stalled,
        candidates_X=X_all,
        candidates_F=F_all,
    )


def _solve_subproblem(
    ev: _Evaluator,
    u0: np.ndarray,
    target: np.ndarray,
    normal: np.ndarray,
    normal_sq: float,
    utopia: np.ndarray,
    span: np.ndarray,
    maxiter: int,
    constraint_tol: float,
) -> np.ndarray | None:
    """max t s.t. target + t·n̂ = F̄(u); the solution's u, or None if SLSQP stalled."""
    n_var = ev.n_var

    def residual(z: np.ndarray) -> np.ndarray:
        f_bar = (ev.value(z[:n_var]) - utopia) / span
        return f_bar - target - z[n_var] * normal

    def residual_jac(z: np.ndarray) -> np.ndarray:
        jac = ev.value_jac(z[:n_var])[1] / span[:, None]
        return np.hstack([jac, -normal[:, None]])

    f0 = (ev.value(u0) - utopia) / span
    if not np.all(np.isfinite(f0)):
        return None
    t0 = float(normal @ (f0 - target)) / normal_sq
    z0 = np.append(u0, t0)
    objective_grad = np.zeros(n_var + 1)
    objective_grad[-1] = -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = scipy_minimize(
            lambda z: -z[n_var],
            z0,
            jac=lambda z: objective_grad,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * n_var + [(None, None)],
            constraints=[{"type": "eq", "fun": residual, "jac": residual_jac}],
            options={"maxiter": maxiter, "ftol": 1e-10},
        )
    z = np.append(np.clip(res.x[:n_var], 0.0, 1.0), res.x[n_var])
    violation = residual(z)
    if not np.all(np.isfinite(violation)) or np.max(np.abs(violation)) > constraint_tol:
        return None
    return z[:n_var]
