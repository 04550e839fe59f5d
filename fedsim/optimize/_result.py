"""ParetoResult: what every front finder returns (like pymoo's Result, but for a whole front)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class ParetoResult:
    """A set of non-dominated points of a multi-objective minimization problem.

    Attributes
    ----------
    X, F: (k, n_var) designs and (k, n_obj) objective values, non-dominated and distinct in F,
        sorted by the first objective.
    anchors, anchors_F: (n_obj, n_var) and (n_obj, n_obj): row i minimizes objective i
        (lexicographically); empty arrays for methods without anchors.
    n_evals: objective evaluations spent (every point, finite-difference probes included).
    method: "nbi", "integer_nbi", "exhaustive" or "nsga2".
    time_s: wall-clock seconds.
    payoff: (n_obj, n_obj) payoff matrix Φ, column i = F(anchor i) − utopia (NBI only).
    utopia, nadir: per-objective minima over the anchors and the payoff-table pseudo-nadir
        (max over the anchors) (NBI only; ``None`` otherwise).
    n_subproblems, n_stalled: NBI subproblems solved and those that stalled (kept their start).
    candidates_X, candidates_F: every point considered before the Pareto filter.
    """

    X: np.ndarray
    F: np.ndarray
    anchors: np.ndarray
    anchors_F: np.ndarray
    n_evals: int
    method: str
    time_s: float = 0.0
    payoff: np.ndarray | None = None
    utopia: np.ndarray | None = None
    nadir: np.ndarray | None = None
    n_subproblems: int = 0
    n_stalled: int = 0
    candidates_X: np.ndarray | None = None
    candidates_F: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.F.shape[0])

    def __repr__(self) -> str:
        lo = np.array2string(self.F.min(axis=0), precision=4) if len(self) else "[]"
        hi = np.array2string(self.F.max(axis=0), precision=4) if len(self) else "[]"
        return (
            f"ParetoResult(method={self.method!r}, points={len(self)}, F in {lo}..{hi}, "
            f"n_evals={self.n_evals}, n_stalled={self.n_stalled}, time_s={self.time_s:.3g})"
        )
