"""fedsim.optimize.nbi on pymoo's test problems with known fronts (ZDT1, ZDT2, DTLZ2)."""

from __future__ import annotations

import numpy as np
import pytest
from pymoo.core.problem import Problem
from pymoo.indicators.igd import IGD
from pymoo.problems import get_problem

from fedsim.errors import ConfigError
from fedsim.optimize import ParetoResult, nbi, pareto_filter


def assert_mutually_non_dominated(F: np.ndarray) -> None:
    for i, f in enumerate(F):
        dominated_by = np.all(F <= f, axis=1) & np.any(F < f, axis=1)
        assert not dominated_by.any(), f"point {i} {f} is dominated"


@pytest.mark.parametrize("name", ["zdt1", "zdt2"])
def test_zdt_front(name):
    problem = get_problem(name, n_var=8)
    result = nbi(problem, n_points=40, seed=0)
    assert isinstance(result, ParetoResult) and result.method == "nbi"
    assert IGD(problem.pareto_front())(result.F) <= 0.03
    assert len(result) >= 35 and result.n_stalled == 0
    assert_mutually_non_dominated(result.F)
    assert np.all(np.diff(result.F[:, 0]) > 0)  # sorted by the first objective
    np.testing.assert_allclose(result.anchors_F, [[0.0, 1.0], [1.0, 0.0]], atol=1e-3)
    np.testing.assert_allclose(result.utopia, [0.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(result.nadir, [1.0, 1.0], atol=1e-3)
    assert result.n_evals > 0 and result.X.shape == (len(result), 8)
    assert np.all(result.X >= 0.0) and np.all(result.X <= 1.0)


def test_dtlz2_three_objectives():
    problem = get_problem("dtlz2", n_var=7, n_obj=3)
    result = nbi(problem, n_points=91, seed=0)
    assert IGD(problem.pareto_front())(result.F) <= 0.1
    assert_mutually_non_dominated(result.F)
    # Lexicographic anchors are the three corners of the sphere octant, not weakly Pareto points.
    np.testing.assert_allclose(np.sort(result.anchors_F, axis=0), np.sort(np.eye(3), axis=0), atol=1e-3)
    assert np.linalg.norm(result.F, axis=1) == pytest.approx(np.ones(len(result)), abs=1e-3)


def test_expanded_chim_reaches_dtlz2_edges():
    problem = get_problem("dtlz2", n_var=7, n_obj=3)
    plain = nbi(problem, n_points=45, seed=0)
    expanded = nbi(problem, n_points=45, seed=0, chim_expansion=0.1)
    assert_mutually_non_dominated(expanded.F)
    # Plain NBI leaves the edges (one objective 0, others > 0) empty; the expanded CHIM does not.
    on_edge = lambda F: np.sum((np.min(F, axis=1) < 1e-6) & (np.sort(F, axis=1)[:, 1] > 0.1))  # noqa: E731
    assert on_edge(plain.F) == 0 < on_edge(expanded.F)
    front = problem.pareto_front()
    assert IGD(front)(expanded.F) < IGD(front)(plain.F)


def test_same_seed_same_front():
    problem = get_problem("zdt1", n_var=5)
    a, b = nbi(problem, n_points=20, seed=3), nbi(problem, n_points=20, seed=3)
    np.testing.assert_array_equal(a.F, b.F)
    assert a.n_evals == b.n_evals


class _NonConvex(Problem):
    """f2 = 1 − f1^0.5 + 0.25·sin²(3π f1): a front with dominated dents NBI must filter out."""

    def __init__(self):
        super().__init__(n_var=2, n_obj=2, xl=0.0, xu=1.0)

    def _evaluate(self, x, out, *args, **kwargs):
        f1 = x[:, 0]
        g = 1.0 + x[:, 1]
        out["F"] = np.column_stack([f1, g * (1.0 - np.sqrt(f1) + 0.25 * np.sin(3 * np.pi * f1) ** 2)])


def test_non_convex_front_is_filtered():
    result = nbi(_NonConvex(), n_points=40, seed=0)
    assert_mutually_non_dominated(result.F)
    assert result.candidates_F is not None and len(result.candidates_F) > len(result)


def test_pareto_filter_keeps_distinct_non_dominated_rows():
    F = np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 2.0], [2.0, 2.0], [0.5, 3.0], [np.inf, 0.0]])
    assert pareto_filter(F).tolist() == [4, 0, 1]
    big = np.random.default_rng(0).random((5000, 2))
    kept = pareto_filter(big)
    assert_mutually_non_dominated(big[kept])


def test_rejects_bad_input():
    with pytest.raises(ConfigError, match="problem"):
        nbi("zdt1")
    with pytest.raises(ConfigError, match="n_points"):
        nbi(get_problem("zdt1", n_var=5), n_points=1)
    with pytest.raises(ConfigError, match="bounds only"):
        nbi(get_problem("bnh"))
