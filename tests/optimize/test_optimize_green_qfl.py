"""The Green-QFL design problem: front, Nash bargaining point, exhaustive cross-check, P1 line search."""

from __future__ import annotations

import numpy as np
import pytest

from fedsim._compose import scenarios_dir
from fedsim.errors import ConfigError
from fedsim.optimize import (
    GreenQflProblem,
    anchor,
    disagreement_point,
    exhaustive_front,
    integer_nbi,
    line_search_precision,
    nash_bargaining,
    nbi,
    nsga2_front,
    sum_rule,
)
from fedsim.theory import ConvergenceConstants, QflModel

# The release's σ_i, shipped with the scenarios (scenarios/data/).
SIGMA_FILE = scenarios_dir() / "data" / "green_qfl_sigma.txt"


@pytest.fixture(scope="module")
def model() -> QflModel:
    return QflModel.green_qfl_paper(SIGMA_FILE, drops=10_000, seed=0)


@pytest.fixture(scope="module")
def problem(model) -> GreenQflProblem:
    return GreenQflProblem(model)


@pytest.fixture(scope="module")
def integer_front(problem):
    return integer_nbi(problem, n_points=50, seed=0)


def test_problem_bounds_and_objectives(model):
    problem = GreenQflProblem(model)
    np.testing.assert_array_equal(problem.xl, [1, 1, 1, 15])
    np.testing.assert_array_equal(problem.xu, [30, 50, 32, 32])
    F = problem.objectives([[1, 50, 32, 32], [3, 7, 9.5, 20.25]])
    assert F[0, 1] == pytest.approx(model.rounds(1, 50, 32, 32))
    assert F[1, 0] == pytest.approx(model.total_energy(3, 7, 9.5, 20.25))
    assert [len(g) for g in problem.integer_grids()] == [30, 50, 32, 18]


def test_relaxed_front(problem):
    result = nbi(problem, n_points=50, seed=0)
    E, T = result.F[:, 0], result.F[:, 1]
    assert result.n_stalled == 0 and len(result) >= 45
    # Energy inside the reference range; the relaxed round count goes below 183 because the
    # relaxed optimum has I ≈ 1.37 (T_min over real I is ≈ 156), the integer front does not.
    assert 10.0 <= E.min() and E.max() <= 480.0
    assert 150.0 <= T.min() < 183.0 and T.max() <= 400.0
    assert result.X[anchor(result, 1), 0] > 1.0


def test_integer_front_in_reference_ranges(integer_front):
    E, T = integer_front.F[:, 0], integer_front.F[:, 1]
    assert np.all(integer_front.X == np.round(integer_front.X))
    assert 10.0 <= E.min() and E.max() <= 480.0
    assert 183.0 <= T.min() and T.max() <= 400.0


def test_integer_nbi_matches_exhaustive_search(problem, integer_front):
    grid = exhaustive_front(problem)
    assert grid.n_evals == 30 * 50 * 32 * 18
    E, T = grid.F[:, 0], grid.F[:, 1]
    assert 10.0 <= E.min() and E.max() <= 480.0 and 183.0 <= T.min() and T.max() <= 400.0
    on_grid_front = {tuple(x) for x in grid.X}
    share = np.mean([tuple(x) in on_grid_front for x in integer_front.X])
    assert share >= 0.85
    d = disagreement_point("paper", problem=problem)
    np.testing.assert_array_equal(
        integer_front.X[nash_bargaining(integer_front, d)], grid.X[nash_bargaining(grid, d)]
    )
    np.testing.assert_array_equal(integer_front.X[sum_rule(integer_front)], grid.X[sum_rule(grid)])
    np.testing.assert_array_equal(integer_front.X[anchor(integer_front, 0)], grid.X[anchor(grid, 0)])


def test_nash_point_saves_energy_against_full_precision(problem, integer_front):
    d = problem.paper_disagreement()
    assert d == pytest.approx(problem.objectives(problem.paper_disagreement_x())[0])
    x = integer_front.X[nash_bargaining(integer_front, d)]
    E, T = integer_front.F[nash_bargaining(integer_front, d)]
    E_full, T_full = problem.objectives(problem.full_precision(x))[0]
    assert E < E_full and T >= T_full
    assert x[2] < 32 and x[3] < 32


def test_rejects_unreachable_target():
    model = QflModel(np.ones(5), 1e-9, constants=ConvergenceConstants(epsilon=1e-12))
    with pytest.raises(ConfigError, match="epsilon"):
        GreenQflProblem(model)


def test_line_search_is_u_shaped(model):
    result = line_search_precision(model, 10, 10)
    curve = result.energy_curve_j
    np.testing.assert_array_equal(result.n_values, np.arange(15, 33))
    best = int(np.argmin(curve))
    assert 0 < best < len(curve) - 1  # interior minimum
    assert np.all(np.diff(curve[: best + 1]) < 0) and np.all(np.diff(curve[best:]) > 0)
    assert result.n == result.n_values[best] and result.energy_j == curve[best]
    assert result.full_precision_energy_j == pytest.approx(curve[-1])
    assert 0.0 < result.savings < 1.0
    with pytest.raises(ConfigError, match="line_search.K"):
        line_search_precision(model, 10, 51)


def test_nsga2_helper_runs(model):
    problem = GreenQflProblem(model)
    result = nsga2_front(problem, 2_000, pop_size=40, seed=0)
    assert result.method == "nsga2" and result.n_evals == 2_000
    assert len(result) > 5 and np.all(np.isfinite(result.F))
