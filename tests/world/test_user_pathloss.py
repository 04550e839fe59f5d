"""radio.path_loss=custom: a user's (distance_m, carrier_hz) -> dB function as the World's path loss.

The user functions live in tests/seam_examples.py (importable by name).
"""

from __future__ import annotations

import numpy as np
import pytest

import fedsim
from fedsim.errors import ConfigError
from fedsim.ledger import DEVICES_FILE, ROUNDS_FILE
from fedsim.rng import numpy_stream
from fedsim.workload import Workload
from fedsim.world import PATH_LOSS_MODELS, Channel, RadioConfig, World, expected_uplink_energy_per_bit

BASE = ["rounds=3", "world.num_devices=6", "op.devices_per_round=3", "op.local_iters=1", "model.hidden=[8]"]
WORKLOAD = Workload(params=20_000, macs=2e4, activations=200, input_size=64)
HORIZONTAL_M = np.array([0.0, 0.5, 3.0, 40.0, 250.0, 700.0])
VERTICAL_M = np.array([0.0, 0.0, 4.0, 0.0, 10.0, 0.0])


def _custom(target: str, **extra) -> RadioConfig:
    return RadioConfig(path_loss="custom", path_loss_target=f"seam_examples:{target}", **extra)


def _ledger_bytes(run_dir) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in (ROUNDS_FILE, DEVICES_FILE)}


def test_custom_is_a_path_loss_model_and_a_function_written_like_fedsims_gives_its_ledger_byte_for_byte(tmp_path):
    assert "custom" in PATH_LOSS_MODELS
    builtin = fedsim.run(fedsim.compose([*BASE, "radio.path_loss=free_space"]), tmp_path / "builtin")
    custom = fedsim.run(fedsim.compose([*BASE, "radio.path_loss=custom", "radio.path_loss_target=seam_examples:free_space_db"]), tmp_path / "custom")
    assert _ledger_bytes(custom.output_dir) == _ledger_bytes(builtin.output_dir)
    exponent = fedsim.run(fedsim.compose([*BASE, "radio.path_loss=exponent"]), tmp_path / "exponent")
    assert _ledger_bytes(exponent.output_dir) != _ledger_bytes(builtin.output_dir)  # the model is what prices the links


def test_the_exponent_model_in_db_prices_every_link_as_the_built_in_one_does(tmp_path):
    builtin = Channel(RadioConfig(path_loss="exponent", path_loss_exponent=4.0), seed=0)
    custom = Channel(_custom("exponent_db"), seed=0)
    np.testing.assert_allclose(custom.path_gain(HORIZONTAL_M, VERTICAL_M, 1), builtin.path_gain(HORIZONTAL_M, VERTICAL_M, 1), rtol=1e-12)
    assert not custom.draws_large_scale  # no rng: deterministic, so a static drop is priced once
    # A whole run under a deadline: the same devices, drops and energies (10^(-PL/10) and d^-4
    # differ in the last bits, so the ledgers are compared as numbers, not bytes).
    deadline = [*BASE, "world.deadline_s=8e-5", "op.devices_per_round=5"]
    a = fedsim.run(fedsim.compose([*deadline, "radio.path_loss=exponent"]), tmp_path / "a")
    b = fedsim.run(fedsim.compose([*deadline, "radio.path_loss=custom", "radio.path_loss_target=seam_examples:exponent_db"]), tmp_path / "b")
    assert [(r["round"], r["device"], r["delivered"], r["drop_reason"]) for r in a.devices] == \
           [(r["round"], r["device"], r["delivered"], r["drop_reason"]) for r in b.devices]
    assert any(not r["delivered"] for r in a.devices) and any(r["delivered"] for r in a.devices)  # the deadline bites
    np.testing.assert_allclose([r["energy_uplink_j"] for r in b.devices], [r["energy_uplink_j"] for r in a.devices], rtol=1e-9)


def test_kwargs_reach_the_function_and_a_sweep_can_vary_them():
    two = Channel(_custom("exponent_db", path_loss_kwargs={"exponent": 2.0}), seed=0)
    four = Channel(_custom("exponent_db"), seed=0)
    d = np.hypot(np.maximum(HORIZONTAL_M, 0), VERTICAL_M)
    np.testing.assert_allclose(two.path_gain(HORIZONTAL_M, VERTICAL_M, 1), np.maximum(d, 1.0) ** -2.0, rtol=1e-12)
    np.testing.assert_allclose(four.path_gain(HORIZONTAL_M, VERTICAL_M, 1), np.maximum(d, 1.0) ** -4.0, rtol=1e-12)


def test_a_random_model_draws_from_the_runs_named_stream_of_the_round():
    config = _custom("blocked_db")
    channel = Channel(config, seed=7)
    assert channel.draws_large_scale
    d = np.hypot(HORIZONTAL_M, VERTICAL_M)
    for round_index in (1, 2):
        blocked = numpy_stream(7, "custom-path-loss", round_index).random(d.shape) < 0.5
        expected = np.maximum(d, 1.0) ** -4.0 * np.where(blocked, 10.0 ** -2.0, 1.0)
        np.testing.assert_allclose(channel.path_gain(HORIZONTAL_M, VERTICAL_M, round_index), expected, rtol=1e-12)
    assert np.array_equal(channel.path_gain(HORIZONTAL_M, VERTICAL_M, 1), Channel(config, seed=7).path_gain(HORIZONTAL_M, VERTICAL_M, 1))
    rounds = [channel.path_gain(HORIZONTAL_M, VERTICAL_M, r) for r in range(1, 9)]
    assert len({g.tobytes() for g in rounds}) > 1  # redrawn each round
    # An estimator's own draws come from its own streams (purpose-prefixed), never the run's.
    estimator = channel.path_gain(HORIZONTAL_M, VERTICAL_M, 1, seed=3, purpose="uplink_energy_mc")
    blocked = numpy_stream(3, "uplink_energy_mc-custom-path-loss", 1).random(d.shape) < 0.5
    np.testing.assert_allclose(estimator, np.maximum(d, 1.0) ** -4.0 * np.where(blocked, 1e-2, 1.0), rtol=1e-12)


def test_the_same_seed_gives_the_same_ledger_under_a_random_model(tmp_path):
    overrides = [*BASE, "radio.path_loss=custom", "radio.path_loss_target=seam_examples:blocked_db", "world.deadline_s=8e-5"]
    a = fedsim.run(fedsim.compose(overrides), tmp_path / "a")
    b = fedsim.run(fedsim.compose(overrides), tmp_path / "b")
    c = fedsim.run(fedsim.compose([*overrides, "seed=1"]), tmp_path / "c")
    assert _ledger_bytes(a.output_dir) == _ledger_bytes(b.output_dir) != _ledger_bytes(c.output_dir)


def test_the_geometry_and_heights_are_given_to_a_function_that_names_them():
    from seam_examples import geometry_db

    channel = Channel(_custom("geometry_db", bs_height_m=25.0, device_height_m=1.5), seed=0)
    channel.path_gain(HORIZONTAL_M, VERTICAL_M, 1)
    seen = geometry_db.seen
    assert np.array_equal(seen["horizontal_m"], HORIZONTAL_M) and np.array_equal(seen["vertical_m"], VERTICAL_M)
    assert (seen["h_bs_m"], seen["h_ut_m"]) == (25.0, 1.5)


def test_shadowing_and_the_uplink_energy_estimate_apply_on_top_of_a_custom_model():
    shadowed = Channel(_custom("exponent_db", shadowing_db=6.0), seed=0)
    plain = Channel(_custom("exponent_db"), seed=0)
    shadow_db = numpy_stream(0, "shadowing", 1).standard_normal(HORIZONTAL_M.shape) * 6.0
    np.testing.assert_allclose(shadowed.large_scale_gain(HORIZONTAL_M, VERTICAL_M, 1),
                               plain.large_scale_gain(HORIZONTAL_M, VERTICAL_M, 1) * 10.0 ** (-shadow_db / 10.0), rtol=1e-12)
    # fedsim optimize's E[uplink energy per bit] under the custom Friis is the built-in Friis one.
    worlds = [fedsim.compose([*BASE, *extra]).world_config for extra in (
        ["radio.path_loss=free_space"], ["radio.path_loss=custom", "radio.path_loss_target=seam_examples:free_space_db"])]
    estimates = [expected_uplink_energy_per_bit(World(w, WORKLOAD, 0), drops=500) for w in worlds]
    assert estimates[0] == estimates[1] > 0


@pytest.mark.parametrize(("target", "fragment"), [
    ("scalar_db", "a function returning one path loss per link: an array of shape (6,), not ()"),
    ("nan_beyond_100m_db", "finite path losses in dB: it returned nan dB at 250.2 m (2 of 6 links)"),
    ("negative_db", "path losses >= 0 dB (a loss below 0 dB is a gain above 1): it returned -1000 dB at 0 m (6 of 6 links)"),
    ("complex_db", "a function returning real path losses in dB, not an array of dtype complex128"),
    ("raises_db", "a function that runs on the links' distances (it raised RuntimeError: table lookup out of range)"),
])
def test_every_output_is_checked_with_one_line_naming_the_key(target, fragment):
    channel = Channel(_custom(target), seed=0)
    with pytest.raises(ConfigError) as error:
        channel.path_gain(HORIZONTAL_M, VERTICAL_M, 1)
    message = str(error.value)
    assert message.startswith(f"radio.path_loss_target='seam_examples:{target}' is not allowed: ") and fragment in message, message
    assert "\n" not in message


@pytest.mark.parametrize(("overrides", "fragment"), [
    (["radio.path_loss=custom"], "radio.path_loss_target=None is not allowed: MODULE:FUNCTION naming a function (distance_m, carrier_hz)"),
    (["radio.path_loss=custom", "radio.path_loss_target=math:pi"], "a function (distance_m, carrier_hz) -> path loss in dB, not a float"),
    (["radio.path_loss=custom", "radio.path_loss_target=seam_examples:exponent_db", "radio.path_loss_kwargs={alpha: 3}"],
     "a function taking (distance_m, carrier_hz) and radio.path_loss_kwargs={'alpha': 3} (got an unexpected keyword argument 'alpha')"),
    (["radio.path_loss=custom", "radio.path_loss_target=seam_examples:blocked_db", "radio.path_loss_kwargs={rng: 1}"],
     "radio.path_loss_kwargs={'rng': 1} is not allowed: the model's own parameters, not rng (the World passes those)"),
    (["radio.path_loss=exponent", "radio.path_loss_target=no_such_channel_module:loss_db"], "ModuleNotFoundError: No module named 'no_such_channel_module'"),
])
def test_a_bad_custom_path_loss_is_one_config_error_when_the_config_is_checked(overrides, fragment):
    with pytest.raises(ConfigError) as error:
        fedsim.compose(overrides)
    assert fragment in str(error.value), str(error.value)


def test_a_target_without_path_loss_custom_is_checked_and_then_only_warned_about(capfd):
    config = fedsim.compose(["radio.path_loss_target=seam_examples:exponent_db"])
    assert config.radio.path_loss == "exponent"
    assert "radio.path_loss_target='seam_examples:exponent_db' has no effect here: it applies to radio.path_loss=custom" in capfd.readouterr().err
