"""The analytic path prices a round with the run's own World, without loading any data."""

from __future__ import annotations

import numpy as np
import pytest

import fedsim
from fedsim.config import RunConfig
from fedsim.controller import analytic_world, qfl_model
from fedsim.theory import QflModel


def test_the_analytic_world_of_a_classifier_loads_no_dataset(monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("the analytic path must not load a dataset")

    monkeypatch.setattr("fedsim.tasks._classifier.load_dataset", no_data)
    config = RunConfig.from_mapping({"dataset": {"name": "mnist", "path": "/nonexistent"}, "model": {"name": "mlp", "hidden": []}})
    world, upload = analytic_world(config)
    assert upload == world.workload.params == 784 * 10 + 10  # logistic regression on 28x28 inputs
    assert qfl_model(config, world, upload).d == upload


def test_d_is_what_is_uploaded_not_the_first_workload_part():
    base = QflModel([1.0, 2.0], 1e-9)
    adapters = QflModel([1.0, 2.0], 1e-9, upload_params=1234)
    assert base.d == base.workload.params and adapters.d == 1234
    assert adapters.comm_energy(8) == pytest.approx(8 * 1234 * 1e-9)


URBAN_MACRO = {"path_loss": "uma_38901", "carrier_hz": 3.5e9, "bs_height_m": 25.0, "device_height_m": 1.5, "shadowing_db": 6.0}


def _per_bit_estimates(config: RunConfig, drops: int) -> np.ndarray:
    world, _ = analytic_world(config)
    n = config.world.num_devices
    return np.array([world.expected_uplink_energy_per_bit(np.eye(n)[i], drops=drops, seed=5) for i in range(n)])


def test_the_uplink_estimator_matches_the_energy_of_a_run():
    """The estimator's E[P/r] against the mean uplink joules per bit in a run's ledger (Rician
    fading; a run of 40 rounds x 10 devices)."""
    overrides = {
        "rounds": 40,
        "seed": 3,
        "world": {"num_devices": 10},
        "op": {"devices_per_round": 10, "local_iters": 1},
        "model": {"hidden": []},
        "radio": {"path_loss_exponent": 3.0, "fading": "rician", "rician_k_db": 10.0, "tx_power_w": 0.2},
    }
    result = fedsim.run(overrides)
    measured = np.mean([r["energy_uplink_j"] / r["payload_bits"] for r in result.devices])
    assert measured == pytest.approx(np.mean(_per_bit_estimates(RunConfig.from_mapping(overrides), 4000)), rel=0.05)


def test_the_uplink_estimator_prices_urban_macro_as_the_world_does():
    """TR 38.901 UMa with 6 dB shadowing: the per-round mean has a large spread (halves of a
    200-round run differ by 17%), so the World's rounds are sampled directly, 3000 of them, as
    fedsim run would price them; the estimator must agree within 5%."""
    from fedsim.workload import Workload
    from fedsim.world import RoundPlan, World

    overrides = {"seed": 3, "world": {"num_devices": 10}, "radio": {**URBAN_MACRO, "fading": "rician", "rician_k_db": 10.0}}
    config = RunConfig.from_mapping(overrides)
    world = World(config.world_config, Workload(params=100, macs=1e3, activations=10, input_size=10), seed=config.seed)
    devices = np.arange(10)
    bits = np.full(10, 8e4)
    joules = []
    for r in range(1, 3001):
        out = world.simulate_round(RoundPlan(r, devices, np.ones(10, int), np.full(10, 8), bits))
        joules.append(out.energy_uplink_j / bits)
    assert np.mean(joules) == pytest.approx(np.mean(_per_bit_estimates(config, 20000)), rel=0.05)
