"""Multi-objective optimization of operating points, built on pymoo's abstractions.

- ``nbi(problem, n_points, seed=...)``: Pareto front of a bound-constrained pymoo ``Problem`` by
  Normal Boundary Intersection (Das & Dennis 1998); ``integer_nbi`` rounds the relaxed solutions
  to integer neighbours; ``exhaustive_front`` evaluates a full grid (the cross-check);
  ``nsga2_front`` runs pymoo's NSGA-II for comparison. All return a ``ParetoResult``.
- Selection rules return a row of the front: ``nash_bargaining``, ``sum_rule``, ``anchor``;
  ``disagreement_point`` builds the Nash disagreement point.
- ``GreenQflProblem(model)``: (I, K, m, n) -> (energy until convergence, rounds) of
  ``fedsim.theory.QflModel``; ``line_search_precision`` is P1's one-precision line search.
"""

from fedsim.optimize._green_qfl import GreenQflProblem
from fedsim.optimize._integer import exhaustive_front, integer_nbi, round_neighbours
from fedsim.optimize._line_search import LineSearchResult, line_search_precision
from fedsim.optimize._nbi import nbi
from fedsim.optimize._nsga2 import nsga2_front
from fedsim.optimize._pareto import pareto_filter
from fedsim.optimize._result import ParetoResult
from fedsim.optimize._selection import (
    DISAGREEMENT_KINDS,
    anchor,
    disagreement_point,
    nash_bargaining,
    sum_rule,
)

__all__ = [
    "DISAGREEMENT_KINDS",
    "GreenQflProblem",
    "LineSearchResult",
    "ParetoResult",
    "anchor",
    "disagreement_point",
    "exhaustive_front",
    "integer_nbi",
    "line_search_precision",
    "nash_bargaining",
    "nbi",
    "nsga2_front",
    "pareto_filter",
    "round_neighbours",
    "sum_rule",
]
