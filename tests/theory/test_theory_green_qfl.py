"""fedsim.theory: the Green-QFL convergence and energy model against shared/reference/green_qfl.md."""

from __future__ import annotations

import numpy as np
import pytest

from fedsim._compose import scenarios_dir
from fedsim.errors import ConfigError
from fedsim.theory import ConvergenceConstants, QflModel, load_sigma
from fedsim.world import QnnEnergyModel, Workload, World, WorldConfig

# The release's σ_i, shipped with the scenarios (scenarios/data/).
SIGMA_FILE = scenarios_dir() / "data" / "green_qfl_sigma.txt"
D = Workload.green_qfl_paper().params
REFERENCE_J_PER_PRECISION_BIT = 1.04e-3


def synthetic_model() -> QflModel:
    """The paper's constants with made-up σ_i and e_bit: T barely depends on σ (Σp²σ² ~ 1e-17)."""
    sigma = np.linspace(1e-8, 5e-8, 50)
    return QflModel(sigma, REFERENCE_J_PER_PRECISION_BIT / D)


@pytest.fixture(scope="module")
def paper_model() -> QflModel:
    return QflModel.green_qfl_paper(SIGMA_FILE, drops=10_000, seed=0)


def test_constants_defaults_and_validation():
    c = ConvergenceConstants()
    assert (c.L, c.mu, c.beta, c.gamma, c.G, c.Gamma, c.rho, c.epsilon) == (
        0.097, 0.05, 40.0, 1.0, 0.25, 0.6, 100.0, 0.1
    )
    assert ConvergenceConstants(mu=0.1).beta == pytest.approx(20.0)
    with pytest.raises(ConfigError, match="beta="):
        ConvergenceConstants(beta=10.0)  # beta·mu = 0.5 <= 1
    with pytest.raises(ConfigError, match="^epsilon="):
        ConvergenceConstants(epsilon=0.0)


def test_n_min_is_15():
    assert synthetic_model().n_min() == 15


def test_n_min_follows_the_target():
    looser = QflModel(np.ones(3), 1e-9, constants=ConvergenceConstants(epsilon=1.0))
    tighter = QflModel(np.ones(3), 1e-9, constants=ConvergenceConstants(epsilon=0.01))
    assert looser.n_min() < 15 < tighter.n_min()
    for model in (looser, tighter):
        n = model.n_min()
        assert np.isfinite(model.rounds(1, 3, 32, n)) and np.isinf(model.rounds(1, 3, 32, n - 1))


def test_train_energy_reference_values_and_source_of_truth():
    model = synthetic_model()
    assert model.train_energy(32) == pytest.approx(0.0193, rel=0.01)
    assert model.train_energy(16) == pytest.approx(0.0148, rel=0.01)
    bits = np.arange(1, 33)
    expected = QnnEnergyModel().train_iteration_energy(bits, Workload.green_qfl_paper())
    np.testing.assert_allclose(model.train_energy(bits), expected, rtol=1e-12)


def test_train_energy_is_smooth_and_increasing_between_integers():
    model = synthetic_model()
    n = np.linspace(15, 32, 341)
    e = model.train_energy(n)
    assert np.all(np.diff(e) > 0)
    assert np.all(model.train_energy(16.5) > model.train_energy(16))
    assert np.all(model.train_energy(16.5) < model.train_energy(17))
    with pytest.raises(ConfigError, match="theory.n"):
        model.train_energy(33)


def test_rounds_reference_value():
    assert synthetic_model().rounds(1, 50, 32, 32) == pytest.approx(183.5, rel=0.01)


def test_rounds_monotone_in_k_m_n():
    model = synthetic_model()
    K = np.arange(1, 51)
    assert np.all(np.diff(model.rounds(5, K, 8, 20)) < 0)  # more devices, fewer rounds
    m = np.arange(1, 33)
    assert np.all(np.diff(model.rounds(5, 10, m, 20)) < 0)  # coarser uplink, more rounds
    n = np.arange(15, 33)
    assert np.all(np.diff(model.rounds(5, 10, 8, n)) < 0)  # coarser training, more rounds


def test_rounds_infinite_below_n_min():
    model = synthetic_model()
    assert np.isinf(model.rounds(1, 50, 32, 14))
    # The real-valued threshold is ½·log2(L·β·d·(ρ−μ)/(2ε)) ≈ 14.79; n_min is its ceiling.
    assert np.isinf(model.rounds(1, 50, 32, 14.75))
    assert np.isfinite(model.rounds(1, 50, 32, 14.85))
    assert np.isinf(model.total_energy(1, 50, 32, 14))
    assert np.isfinite(model.rounds(1, 50, 32, 15))
    values = model.rounds(1, 50, 32, np.array([1, 10, 14, 15, 32]))
    assert np.isinf(values[:3]).all() and np.isfinite(values[3:]).all()


def test_formulas_and_broadcasting():
    model = synthetic_model()
    c = model.constants
    assert model.psi1(20) == pytest.approx(D * (c.rho - c.mu) * 2.0**-40)
    p = model.sampling_probabilities
    assert p.sum() == pytest.approx(1.0)
    assert model.sampling_variance == pytest.approx(np.sum(p**2 * model.sigma**2))
    expected_psi2 = (
        model.sampling_variance + 4 * 9 * c.G**2 + 4 * D * 4 * c.G**2 / (10 * 2.0**16)
        + 4 * 16 * c.G**2 / 10 + 4 * c.L * c.Gamma
    )
    assert model.psi2(4, 10, 8) == pytest.approx(expected_psi2)
    I, K, m, n = 4, 10, 8, 20
    assert model.energy_per_round(I, K, m, n) == pytest.approx(
        I * K * model.train_energy(n) + K * m * REFERENCE_J_PER_PRECISION_BIT
    )
    assert model.total_energy(I, K, m, n) == pytest.approx(
        model.rounds(I, K, m, n) * model.energy_per_round(I, K, m, n)
    )
    grid = model.total_energy(np.arange(1, 4)[:, None], np.arange(1, 6)[None, :], 8, 20.5)
    assert grid.shape == (3, 5) and np.all(np.isfinite(grid))
    assert isinstance(model.rounds(1, 50, 32, 32), float)


def test_load_sigma_parses_trailing_commas_and_rejects_garbage(tmp_path):
    good = tmp_path / "sigma.txt"
    good.write_text("1e-8,\n2.5e-8,\n\n3e-8")
    np.testing.assert_allclose(load_sigma(good), [1e-8, 2.5e-8, 3e-8])
    bad = tmp_path / "bad.txt"
    bad.write_text("1e-8,\nabc,\n")
    with pytest.raises(ConfigError, match="line 2"):
        load_sigma(bad)
    negative = tmp_path / "negative.txt"
    negative.write_text("-1e-8\n")
    with pytest.raises(ConfigError):
        load_sigma(negative)
    with pytest.raises(ConfigError, match="sigma_path"):
        load_sigma(tmp_path / "missing.txt")


def test_paper_sigma_file(paper_model):
    sigma = load_sigma(SIGMA_FILE)
    assert sigma.size == 50
    np.testing.assert_allclose(paper_model.sigma, sigma)
    np.testing.assert_allclose(paper_model.sampling_probabilities, sigma**-2 / np.sum(sigma**-2))


def test_paper_uplink_energy_per_precision_bit(paper_model):
    # Seed 0, 10,000 drops, positions redrawn per drop as in the release: 1.015e-3 J per bit.
    assert paper_model.uplink_energy_per_precision_bit_j == pytest.approx(
        REFERENCE_J_PER_PRECISION_BIT, rel=0.10
    )
    # One source of truth: the World's Monte-Carlo estimate, times d.
    n0_dbm_hz = 10.0 * np.log10(4e-21) + 30.0  # the release's N0 = 4e-21 W/Hz
    world = World(WorldConfig.of(num_devices=50, noise_psd_dbm_hz=n0_dbm_hz), Workload.green_qfl_paper(), seed=0)
    weights = 1.0 / paper_model.sigma**2
    per_bit = world.expected_uplink_energy_per_bit(weights, drops=10_000, seed=0, redraw_positions=True)
    assert paper_model.uplink_energy_per_bit_j == per_bit
    assert paper_model.comm_energy(8) == pytest.approx(8 * D * per_bit)


def test_paper_model_reference_numbers(paper_model):
    assert paper_model.n_min() == 15
    assert paper_model.rounds(1, 50, 32, 32) == pytest.approx(183.5, rel=0.01)
    assert paper_model.train_energy(32) == pytest.approx(0.0193, rel=0.01)


def test_model_validation():
    with pytest.raises(ConfigError, match="theory.sigma"):
        QflModel([1e-8, 0.0], 1e-9)
    with pytest.raises(ConfigError, match="uplink_energy_per_bit_j"):
        QflModel([1e-8], -1.0)
    with pytest.raises(ConfigError, match="theory.constants"):
        QflModel([1e-8], 1e-9, constants={"L": 1})
    world = World(WorldConfig.of(num_devices=4), Workload.green_qfl_paper(), seed=0)
    with pytest.raises(ConfigError, match="one σ_i per device"):
        QflModel.from_world(world, [1e-8] * 3, drops=10)
