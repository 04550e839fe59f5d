"""The analytic model of green quantized FL: rounds to converge and energy until convergence.

Kim, Saad, Mozaffari, Debbah, "Green, Quantized Federated Learning over Wireless Networks: An
Energy-Efficient Design", IEEE TWC 2023, as its public release defines it (restated in
docs/reproductions/kim2023-green-qfl.md). Decision variables: I local iterations, K sampled devices per
round, m uplink precision (bits), n training precision (bits).

- Psi1(n)      = d·(rho − mu)·2^(−2n)                                        (QNN error)
- Psi2(I,K,m)  = Σ p_i²σ_i² + 4(I−1)²G² + 4dIG²/(K·2^(2m)) + 4I²G²/K + 4LΓ  (variance)
- T(I,K,m,n)   = β²Psi2 / (I(βμ−1)(2ε/L − βPsi1/(βμ−1))) − γ/I               (rounds)
- E_round      = I·K·E_train(n) + K·E_comm(m),  E_comm(m) = m·d·e_bit
- E_total      = T·E_round

Every function takes scalars or numpy arrays (broadcast together) and accepts real-valued
(relaxed) variables, so an optimizer can treat I, K, m, n as continuous:

- E_train(n) comes from ``fedsim.world.QnnEnergyModel`` (the one source of truth), which accepts
  integer precisions only; between integers it is the C² not-a-knot cubic spline through the
  model's values at n = 1..32, exact at the integers.
- e_bit (J per transmitted bit, averaged over sampled devices with p_i and over fading/placement
  drops) comes from ``World.expected_uplink_energy_per_bit``.
"""

from __future__ import annotations

import math
from os import PathLike

import numpy as np
from numpy.typing import ArrayLike
from scipy.interpolate import CubicSpline

from fedsim._checks import check_float, check_int
from fedsim.errors import ConfigError
from fedsim.theory._constants import ConvergenceConstants
from fedsim.theory._sigma import check_sigma, load_sigma
from fedsim.workload import Workload
from fedsim.world import AccessConfig, QnnEnergyModel, World, WorldConfig

_MAX_BITS = 32


def _as_float(value: ArrayLike) -> np.ndarray | float:
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else array


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=float, copy=True)
    array.flags.writeable = False
    return array


class QflModel:
    """Round count and energy until convergence of quantized FL, vectorized over (I, K, m, n).

    The constructor only stores (and validates) what it is given; ``green_qfl_paper`` and
    ``from_world`` build the uplink energy per bit from a ``World``.

    Parameters
    ----------
    sigma: per-device gradient standard deviations σ_i; devices are sampled with p_i ∝ 1/σ_i².
    uplink_energy_per_bit_j: e_bit, expected joules per transmitted bit of a sampled device.
    constants: the convergence constants (default: the Green-QFL release's).
    workload: the model's sizes; d = ``workload.params`` (default: the Green-QFL CNN).
    energy: the on-device energy model (default: ``QnnEnergyModel()``).
    """

    def __init__(
        self,
        sigma: ArrayLike,
        uplink_energy_per_bit_j: float,
        *,
        constants: ConvergenceConstants | None = None,
        workload: Workload | None = None,
        energy: QnnEnergyModel | None = None,
        upload_params: int | None = None,
    ) -> None:
        try:
            sigma_array = np.atleast_1d(np.asarray(sigma, dtype=float))
        except (TypeError, ValueError):
            raise ConfigError("theory.sigma", sigma, "a non-empty 1-D list of numbers > 0") from None
        check_sigma(sigma_array, sigma)
        check_float("theory.uplink_energy_per_bit_j", uplink_energy_per_bit_j, low=0)
        constants = ConvergenceConstants() if constants is None else constants
        if not isinstance(constants, ConvergenceConstants):
            raise ConfigError("theory.constants", constants, "a ConvergenceConstants")
        workload = Workload.green_qfl_paper() if workload is None else workload
        if not isinstance(workload, Workload):
            raise ConfigError("theory.workload", workload, "a Workload")
        energy = QnnEnergyModel() if energy is None else energy
        if not isinstance(energy, QnnEnergyModel):
            raise ConfigError("theory.energy", energy, "a QnnEnergyModel")

        if upload_params is not None:
            check_int("theory.upload_params", upload_params, 1)
        self.constants = constants
        self.workload = workload
        # d: the values uploaded per round (the adapters of an LM task, not its frozen base).
        self.upload_params = int(workload.params if upload_params is None else upload_params)
        self.energy = energy
        self.sigma = _frozen(sigma_array)
        inverse_variance = 1.0 / sigma_array**2
        self.sampling_probabilities = _frozen(inverse_variance / inverse_variance.sum())
        self.uplink_energy_per_bit_j = float(uplink_energy_per_bit_j)
        # Σ_i p_i²σ_i² (= 1/Σ_j σ_j^-2 for p_i ∝ 1/σ_i²): the sampling-variance floor of Psi2.
        self.sampling_variance = float(np.sum(self.sampling_probabilities**2 * sigma_array**2))
        bits = np.arange(1, _MAX_BITS + 1)
        self._train_energy_table = _frozen(energy.train_iteration_energy(bits, workload))
        self._train_energy_spline = CubicSpline(bits, self._train_energy_table, bc_type="not-a-knot")

    # ----------------------------------------------------------------------------- constructors
    @classmethod
    def from_world(
        cls,
        world: World,
        sigma: ArrayLike,
        *,
        constants: ConvergenceConstants | None = None,
        drops: int = 10_000,
        seed: int | None = None,
        redraw_positions: bool = True,
        devices_per_round: int = 1,
        upload_params: int | None = None,
    ) -> QflModel:
        """e_bit from ``world.expected_uplink_energy_per_bit`` with weights p_i ∝ 1/σ_i².

        ``redraw_positions=True`` averages over placements as the Green-QFL release does.
        The world's workload and energy model are used for d and E_train.
        """
        if not isinstance(world, World):
            raise ConfigError("theory.world", world, "a fedsim.world.World")
        try:
            sigma_array = np.atleast_1d(np.asarray(sigma, dtype=float))
        except (TypeError, ValueError):
            raise ConfigError("theory.sigma", sigma, "a non-empty 1-D list of numbers > 0") from None
        check_sigma(sigma_array, sigma)
        if sigma_array.size != world.config.num_devices:
            raise ConfigError(
                "theory.sigma",
                f"{sigma_array.size} values",
                f"one σ_i per device ({world.config.num_devices})",
            )
        e_bit = world.expected_uplink_energy_per_bit(
            1.0 / sigma_array**2, drops=drops, seed=seed, redraw_positions=redraw_positions,
            devices_per_round=devices_per_round,
        )
        return cls(
            sigma_array,
            e_bit,
            constants=constants,
            workload=world.workload,
            energy=world.config.energy,
            upload_params=upload_params,
        )

    @classmethod
    def green_qfl_paper(
        cls,
        sigma_path: str | PathLike[str],
        drops: int = 10_000,
        seed: int = 0,
        constants: ConvergenceConstants | None = None,
    ) -> QflModel:
        """The Green-QFL release's configuration: N = len(σ) devices in a 500 m square, BS at the
        corner, P = 0.1 W, B = 10 MHz, N0 = −174 dBm/Hz, path-loss exponent 4, Rayleigh fading;
        positions and fading redrawn per drop (``drops`` Monte-Carlo drops, stream seed ``seed``).
        """
        check_int("theory.seed", seed, 0)
        sigma = load_sigma(sigma_path)
        # Spelled out rather than taken from WorldConfig's defaults, which may evolve.
        config = WorldConfig.of(
            num_devices=sigma.size,
            area_side_m=500.0,
            bs_position_m=(0.0, 0.0),
            tx_power_w=0.1,
            bandwidth_hz=10e6,
            noise_psd_dbm_hz=10.0 * math.log10(4e-21) + 30.0,  # N0 = 4e-21 W/Hz
            path_loss="exponent",
            path_loss_exponent=4.0,
            fading="rayleigh",
            access=AccessConfig(scheme="orthogonal"),
        )
        world = World(config, Workload.green_qfl_paper(), seed=seed)
        return cls.from_world(
            world, sigma, constants=constants, drops=drops, seed=seed, redraw_positions=True
        )

    # ------------------------------------------------------------------------------ properties
    @property
    def d(self) -> int:
        """Values uploaded per round (the uplink payload length), e.g. the model's parameters."""
        return self.upload_params

    @property
    def uplink_energy_per_precision_bit_j(self) -> float:
        """d·e_bit: expected uplink joules per bit of uplink precision m (≈1.04e-3 in the paper)."""
        return self.d * self.uplink_energy_per_bit_j

    def __repr__(self) -> str:
        return (
            f"QflModel(devices={self.sigma.size}, d={self.d}, "
            f"uplink_j_per_precision_bit={self.uplink_energy_per_precision_bit_j:.4g}, "
            f"n_min={self.n_min()}, constants={self.constants})"
        )

    # ----------------------------------------------------------------------------- convergence
    def psi1(self, n: ArrayLike) -> np.ndarray | float:
        """Psi1(n) = d·(rho − mu)·2^(−2n): the QNN (training-precision) error term."""
        c = self.constants
        return _as_float(self.d * (c.rho - c.mu) * np.exp2(-2.0 * np.asarray(n, dtype=float)))

    def psi2(self, I: ArrayLike, K: ArrayLike, m: ArrayLike) -> np.ndarray | float:  # noqa: E741
        """Psi2(I, K, m): sampling, local-drift, uplink-quantization and non-IID variance."""
        c = self.constants
        I, K, m = (np.asarray(v, dtype=float) for v in (I, K, m))  # noqa: E741
        g2 = c.G**2
        value = (
            self.sampling_variance
            + 4.0 * (I - 1.0) ** 2 * g2
            + 4.0 * self.d * I * g2 / (K * np.exp2(2.0 * m))
            + 4.0 * I**2 * g2 / K
            + 4.0 * c.L * c.Gamma
        )
        return _as_float(value)

    def _denominator(self, n: ArrayLike) -> np.ndarray:
        """2ε/L − β·Psi1(n)/(βμ − 1); positive exactly when n ≥ n_min."""
        c = self.constants
        return 2.0 * c.epsilon / c.L - c.beta * np.asarray(self.psi1(n)) / (c.beta * c.mu - 1.0)

    def rounds(
        self, I: ArrayLike, K: ArrayLike, m: ArrayLike, n: ArrayLike  # noqa: E741
    ) -> np.ndarray | float:
        """T(I, K, m, n): rounds until the optimality gap is below ε; +inf where n < n_min
        (the QNN error floor is above ε, so the target is never reached)."""
        c = self.constants
        I, K, m, n = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (I, K, m, n)))  # noqa: E741
        denominator = self._denominator(n)
        psi2 = np.asarray(self.psi2(I, K, m))
        valid = denominator > 0.0
        safe = np.where(valid, denominator, 1.0)
        value = c.beta**2 * psi2 / (I * (c.beta * c.mu - 1.0) * safe) - c.gamma / I
        return _as_float(np.where(valid, value, np.inf))

    def n_min(self) -> int:
        """Smallest integer training precision with a finite round count.

        From 2ε/L > β·Psi1(n)/(βμ−1): n > ½·log2(L·β·d·(ρ−μ) / (2ε·(βμ−1))). With β = 2/μ
        (βμ − 1 = 1) this is green_qfl.md's ceil(½·log2(L·β·d·(ρ−μ)/(2ε))), except that an exact
        threshold (denominator 0) is excluded. Clamped below at 1; may exceed 32 (no feasible n).
        """
        c = self.constants
        ratio = c.L * c.beta * self.d * (c.rho - c.mu) / (2.0 * c.epsilon * (c.beta * c.mu - 1.0))
        candidate = max(1, math.ceil(0.5 * math.log2(ratio)))
        while self._denominator(candidate) <= 0.0:
            candidate += 1
        return candidate

    # ---------------------------------------------------------------------------------- energy
    def train_energy(self, n: ArrayLike) -> np.ndarray | float:
        """E_train(n): joules per local iteration (one mini-batch) at training precision n.

        QnnEnergyModel at integer n; the C² cubic spline through n = 1..32 in between.
        """
        bits = np.asarray(n, dtype=float)
        if np.any(~np.isfinite(bits)) or np.any(bits < 1.0) or np.any(bits > _MAX_BITS):
            raise ConfigError("theory.n", n, "training precisions in [1, 32]")
        return _as_float(self._train_energy_spline(bits))

    def comm_energy(self, m: ArrayLike) -> np.ndarray | float:
        """E_comm(m) = m·d·e_bit: expected uplink joules of one sampled device at m bits."""
        return _as_float(np.asarray(m, dtype=float) * self.uplink_energy_per_precision_bit_j)

    def energy_per_round(
        self, I: ArrayLike, K: ArrayLike, m: ArrayLike, n: ArrayLike  # noqa: E741
    ) -> np.ndarray | float:
        """E_round = I·K·E_train(n) + K·E_comm(m), joules of all sampled devices in one round."""
        I, K, m, n = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (I, K, m, n)))  # noqa: E741
        value = I * K * np.asarray(self.train_energy(n)) + K * np.asarray(self.comm_energy(m))
        return _as_float(value)

    def total_energy(
        self, I: ArrayLike, K: ArrayLike, m: ArrayLike, n: ArrayLike  # noqa: E741
    ) -> np.ndarray | float:
        """E_total = T·E_round, joules until convergence; +inf where n < n_min."""
        rounds = np.asarray(self.rounds(I, K, m, n))
        per_round = np.asarray(self.energy_per_round(I, K, m, n))
        return _as_float(rounds * per_round)
