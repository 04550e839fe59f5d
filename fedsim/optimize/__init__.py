"""Multi-objective optimization of operating points, built on pymoo's abstractions.

- ``nbi(problem, n_points, seed=...)``: Pareto front of a bound-constrained pymoo ``Problem`` by
  Normal Boundary Intersection (Das & Dennis 1998); ``integer_nbi`` rounds the relaxed solutions
  to integer neighbours; ``exhaustive_front`` evaluates a full grid (the cross-check);
  ``nsga2_front`` runs pymoo's NSGA-II for comparison. All return a ``ParetoResult``.
- Selection rules return a row of the front: ``nash_bargaining``, ``sum_rule``, ``anchor``;
  ``disagreement_point`` builds the Nash disagreement point.
- ``GreenQflProblem(model)``: (I, K, m, n) -> (energy until convergence, rounds) of
  ``fedsim.theory.QflModel``; ``line_search_precision`` is P1's one-precision line search."""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "GreenQflProblem": "._green_qfl",
    "exhaustive_front": "._integer",
    "integer_nbi": "._integer",
    "round_neighbours": "._integer",
    "LineSearchResult": "._line_search",
    "line_search_precision": "._line_search",
    "nbi": "._nbi",
    "nsga2_front": "._nsga2",
    "pareto_filter": "._pareto",
    "ParetoResult": "._result",
    "DISAGREEMENT_KINDS": "fedsim.theory._names",
    "anchor": "._selection",
    "disagreement_point": "._selection",
    "nash_bargaining": "._selection",
    "sum_rule": "._selection",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
