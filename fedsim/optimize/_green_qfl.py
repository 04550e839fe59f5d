"""The Green-QFL design problem as a pymoo Problem: minimize (energy until convergence, rounds)."""

from __future__ import annotations

import numpy as np
from pymoo.core.problem import Problem

from fedsim._checks import check_int
from fedsim.errors import ConfigError
from fedsim.theory import QflModel

_MAX_BITS = 32


class GreenQflProblem(Problem):
    """Variables x = (I, K, m, n): local iterations, sampled devices, uplink and training bits.

    Bounds (the release's): I ∈ [1, 30], K ∈ [1, 50] (the number of devices by default),
    m ∈ [1, 32], n ∈ [n_min, 32]. Objectives: F = (E_total in joules, T in rounds), both minimized.
    Variables are real-valued here (the relaxation); ``integer_vars`` marks all four as integers
    for ``integer_nbi`` and ``integer_grids()`` gives the grid for ``exhaustive_front``.
    """

    var_names = ("I", "K", "m", "n")
    obj_names = ("energy_j", "rounds")

    def __init__(
        self,
        model: QflModel,
        *,
        max_local_iters: int = 30,
        max_devices: int | None = None,
        max_bits: int = _MAX_BITS,
    ) -> None:
        if not isinstance(model, QflModel):
            raise ConfigError("problem.model", model, "a fedsim.theory.QflModel")
        devices = model.sigma.size
        check_int("problem.max_local_iters", max_local_iters, 1)
        max_devices = devices if max_devices is None else max_devices
        check_int("problem.max_devices", max_devices, 1, devices)
        check_int("problem.max_bits", max_bits, 1, _MAX_BITS)
        n_min = model.n_min()
        if n_min > max_bits:
            raise ConfigError(
                "theory.epsilon",
                model.constants.epsilon,
                f"a target reachable with at most {max_bits} training bits (needs n_min={n_min})",
            )
        self.model = model
        self.n_min = n_min
        self.integer_vars = (0, 1, 2, 3)
        super().__init__(
            n_var=4,
            n_obj=2,
            xl=np.array([1.0, 1.0, 1.0, float(n_min)]),
            xu=np.array([float(max_local_iters), float(max_devices), float(max_bits), float(max_bits)]),
            vtype=float,
        )

    def _evaluate(self, x, out, *args, **kwargs):  # noqa: ANN001, ARG002 (pymoo's signature)
        I, K, m, n = (x[:, j] for j in range(4))  # noqa: E741
        rounds = np.asarray(self.model.rounds(I, K, m, n), dtype=float)
        per_round = np.asarray(self.model.energy_per_round(I, K, m, n), dtype=float)
        out["F"] = np.column_stack([rounds * per_round, rounds])

    def objectives(self, x: np.ndarray) -> np.ndarray:
        """F for designs x (rows (I, K, m, n)), shape (k, 2)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return np.asarray(self.evaluate(x, return_values_of=["F"]), dtype=float)

    def paper_disagreement_x(self) -> np.ndarray:
        """The release's disagreement design: I = max, K = 1, m = 1, n = n_min."""
        return np.array([self.xu[0], 1.0, 1.0, float(self.n_min)])

    def paper_disagreement(self) -> np.ndarray:
        """(E, T) at the release's disagreement design (I = 30, K = 1, m = 1, n = n_min)."""
        return self.objectives(self.paper_disagreement_x())[0]

    def full_precision(self, x: np.ndarray) -> np.ndarray:
        """The same designs with m = n = 32 (full-precision training and uplink)."""
        x = np.array(np.atleast_2d(x), dtype=float)
        x[:, 2] = _MAX_BITS
        x[:, 3] = _MAX_BITS
        return x

    def integer_grids(self) -> list[np.ndarray]:
        """Every integer value of each variable within the bounds (for ``exhaustive_front``)."""
        return [np.arange(np.ceil(lo), np.floor(hi) + 1.0) for lo, hi in zip(self.xl, self.xu)]
