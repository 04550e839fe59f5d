"""Integer handling: relax-round-filter NBI against the exhaustive grid."""

from __future__ import annotations

import numpy as np
from pymoo.core.problem import Problem

from fedsim.optimize import exhaustive_front, integer_nbi, nash_bargaining, round_neighbours


class _SmallInteger(Problem):
    """Three integer variables, two quadratic objectives: 13·10·7 = 910 grid points."""

    def __init__(self):
        super().__init__(n_var=3, n_obj=2, xl=np.array([0.0, 0.0, -3.0]), xu=np.array([12.0, 9.0, 3.0]))
        self.integer_vars = (0, 1, 2)

    def _evaluate(self, x, out, *args, **kwargs):
        f1 = x[:, 0] ** 2 + 2 * x[:, 1] ** 2 + x[:, 2] ** 2
        f2 = (x[:, 0] - 9) ** 2 + (x[:, 1] - 6) ** 2 + (x[:, 2] - 1) ** 2
        out["F"] = np.column_stack([f1, f2])


def test_round_neighbours():
    X = np.array([[1.5, 2.0, 0.25]])
    Y = round_neighbours(X, [0, 2], np.array([0.0, 0.0, 0.0]), np.array([3.0, 3.0, 0.9]))
    # x0 ∈ {1, 2}, x1 kept, x2 ∈ {0} (ceil 1 is clipped to the bound's integer part 0).
    assert Y.tolist() == [[1.0, 2.0, 0.0], [2.0, 2.0, 0.0]]


def test_integer_nbi_agrees_with_exhaustive_grid():
    problem = _SmallInteger()
    grid = exhaustive_front(problem)
    assert grid.n_evals == 910
    found = integer_nbi(problem, n_points=20, seed=0)
    assert found.method == "integer_nbi"
    assert np.all(found.X == np.round(found.X))
    assert {tuple(f) for f in found.F} == {tuple(f) for f in grid.F}
    d = np.array([200.0, 200.0])
    np.testing.assert_array_equal(found.F[nash_bargaining(found, d)], grid.F[nash_bargaining(grid, d)])


def test_exhaustive_front_with_explicit_grid():
    problem = _SmallInteger()
    grids = [np.arange(0, 13, 2), np.arange(0, 10, 3), np.array([0.0, 1.0])]
    result = exhaustive_front(problem, grids, chunk_size=7)
    assert result.n_evals == 7 * 4 * 2
    full = exhaustive_front(problem, grids)
    np.testing.assert_array_equal(result.F, full.F)
