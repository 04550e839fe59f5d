"""Selection rules on a front: Nash bargaining, SUM, anchors, disagreement points."""

from __future__ import annotations

import numpy as np
import pytest
from pymoo.problems import get_problem

from fedsim.errors import ConfigError
from fedsim.optimize import anchor, disagreement_point, nash_bargaining, nbi, sum_rule


@pytest.fixture(scope="module")
def zdt1_front():
    return nbi(get_problem("zdt1", n_var=5), n_points=60, seed=0)


def test_nash_bargaining_on_zdt1(zdt1_front):
    i = nash_bargaining(zdt1_front, [1.0, 1.0])
    # max (1 − f1)·sqrt(f1) at f1 = 1/3 (radio_energy.md).
    assert zdt1_front.F[i, 0] == pytest.approx(1.0 / 3.0, abs=0.03)
    assert zdt1_front.F[i, 1] == pytest.approx(1.0 - np.sqrt(1.0 / 3.0), abs=0.03)


def test_nash_bargaining_is_scale_invariant(zdt1_front):
    F = zdt1_front.F
    d = np.array([1.0, 1.0])
    scale = np.array([1000.0, 1.0])
    assert nash_bargaining(F * scale, d * scale) == nash_bargaining(F, d)
    scale = np.array([1.0, 1e-3])
    assert nash_bargaining(F * scale, d * scale) == nash_bargaining(F, d)


def test_nash_bargaining_only_counts_points_better_than_d():
    F = np.array([[0.0, 10.0], [1.0, 1.0], [10.0, 0.0], [12.0, 12.0]])
    # (12, 12) has the largest raw product (−7)·(−7) but is worse than d in both objectives.
    assert nash_bargaining(F, [5.0, 5.0]) == 1
    assert nash_bargaining(F, [20.0, 1.5]) == 2  # 10·1.5 beats 19·0.5
    with pytest.raises(ConfigError, match="disagreement"):
        nash_bargaining(F, [0.5, 0.5])
    with pytest.raises(ConfigError, match="disagreement"):
        nash_bargaining(F, [1.0, 2.0, 3.0])


def test_sum_rule_raw_and_normalized():
    F = np.array([[0.0, 1000.0], [2.0, 10.0], [5.0, 0.0]])
    assert sum_rule(F) == 2  # raw: 5 + 0 is the smallest sum
    assert sum_rule(F, normalize=True) == 1  # each objective mapped to [0, 1] first
    assert sum_rule(F * [1000.0, 1.0], normalize=True) == 1  # unit-free when normalized


def test_anchor_picks_each_objective_minimum():
    F = np.array([[1.0, 5.0], [1.0, 4.0], [3.0, 1.0], [4.0, 1.0]])
    assert anchor(F, 0) == 1  # tie on f1 broken by f2
    assert anchor(F, 1) == 2
    with pytest.raises(ConfigError):
        anchor(F, 2)


def test_disagreement_points(zdt1_front):
    np.testing.assert_allclose(disagreement_point("pseudo_nadir", front=zdt1_front), [1.0, 1.0], atol=1e-3)
    np.testing.assert_allclose(disagreement_point("pseudo_nadir", front=np.array([[0, 3], [2, 1]])), [2, 3])
    np.testing.assert_allclose(disagreement_point("budgets", budgets=[0.9, 0.8]), [0.9, 0.8])
    problem = get_problem("zdt1", n_var=5)
    d = disagreement_point("baseline", problem=problem, x=np.full(5, 0.5))
    np.testing.assert_allclose(d, problem.evaluate(np.full((1, 5), 0.5), return_values_of=["F"])[0])
    with pytest.raises(ConfigError, match="disagreement.kind"):
        disagreement_point("median")
    with pytest.raises(ConfigError, match="GreenQflProblem"):
        disagreement_point("paper", problem=problem)
