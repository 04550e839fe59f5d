"""Byzantine devices (``faults.byzantine_prob``, ``faults.attack``, ``faults.attack_scale``): the
attacks transform the update as documented, the draw leaves the other faults' draws alone, the
ClientApp uploads the attacked update on every engine, and devices.csv gets a ``byzantine``
column only when the attack is on."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from run_helpers import tiny_overrides

import fedsim
from fedsim.config import OperatingPoint, RunConfig
from fedsim.errors import ConfigError
from fedsim.federation.client_app import TrainRequest, train_reply
from fedsim.rng import numpy_stream
from fedsim.tasks import LocalResult
from fedsim.tasks._client_side import PLAIN
from fedsim.tasks._records import record_to_encoded
from fedsim.uplink import decode_update
from fedsim.world import DeviceFaults, FaultConfig
from fedsim.world import _faults
from fedsim.world._faults import ATTACKS, attacked

SHAPES = [(64, 32), (32,), (10, 32)]
BYZANTINE = {"byzantine_prob": 0.5}


def _delta(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, 0.01 * (i + 1), size=shape).astype(np.float32) for i, shape in enumerate(SHAPES)]


def _devices(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "devices.csv").open() as fh:
        return list(csv.DictReader(fh))


# -- the attacks ---------------------------------------------------------------------------------
def test_sign_flip_and_scaled_upload_minus_and_plus_scale_times_the_update():
    delta = _delta()
    flipped = attacked(delta, "sign_flip", 4.0, np.random.default_rng(0))
    boosted = attacked(delta, "scaled", 2.5, np.random.default_rng(0))
    for d, f, b in zip(delta, flipped, boosted):
        assert f.dtype == b.dtype == np.float32 and f.shape == b.shape == d.shape
        np.testing.assert_array_equal(f, (-4.0 * d).astype(np.float32))
        np.testing.assert_array_equal(b, (2.5 * d).astype(np.float32))
    assert all(np.array_equal(d, e) for d, e in zip(delta, _delta()))  # the honest update is untouched


def test_gaussian_uploads_noise_of_each_tensors_shape_at_scale_times_its_std():
    delta = _delta()
    noise = attacked(delta, "gaussian", 3.0, numpy_stream(0, "byzantine", 5, 2))
    again = attacked(delta, "gaussian", 3.0, numpy_stream(0, "byzantine", 5, 2))
    for d, n, m in zip(delta, noise, again):
        assert n.shape == d.shape and n.dtype == np.float32
        np.testing.assert_array_equal(n, m)  # seeded by the (seed, "byzantine", device, round) stream
        assert n.std() == pytest.approx(3.0 * d.std(), rel=0.3 if d.size < 100 else 0.05)
        assert abs(n.mean()) < 4 * 3.0 * d.std() / np.sqrt(d.size)
        assert abs(np.corrcoef(n.ravel(), d.ravel())[0, 1]) < 0.5  # noise, not the update
    other = attacked(delta, "gaussian", 3.0, numpy_stream(0, "byzantine", 6, 2))
    assert not np.array_equal(noise[0], other[0])


# -- the config and the draw ---------------------------------------------------------------------
def test_the_attack_keys_default_off_and_bad_values_are_one_line():
    config = FaultConfig()
    assert (config.byzantine_prob, config.attack, config.attack_scale) == (0.0, "sign_flip", 4.0) and not config.any
    assert set(ATTACKS) == {"sign_flip", "gaussian", "scaled"}
    for faults, line in [
        ({"attack": "flip"}, "faults.attack='flip' is not allowed: one of sign_flip, gaussian, scaled"),
        ({"attack_scale": 0}, "faults.attack_scale=0.0 is not allowed: a number in (0, 1e+09]"),
        ({"byzantine_prob": 1.5}, "faults.byzantine_prob=1.5 is not allowed: a number in [0, 1]"),
    ]:
        with pytest.raises(ConfigError) as error:
            RunConfig.from_mapping({"faults": faults})
        assert str(error.value) == line
    assert fedsim.compose(["faults=byzantine"]).faults == FaultConfig(byzantine_prob=0.2, attack="sign_flip", attack_scale=4.0)


def test_the_byzantine_draw_is_a_fifth_uniform_that_moves_no_other_fault():
    others = {"client_crash_prob": 0.25, "nonfinite_prob": 0.25, "straggler_prob": 0.3, "message_loss_prob": 0.25}
    plain, attacking = FaultConfig(**others), FaultConfig(**others, byzantine_prob=0.2)
    keys = [(r, d) for r in range(1, 41) for d in range(50)]
    before = [plain.draw(3, r, d) for r, d in keys]
    after = [attacking.draw(3, r, d) for r, d in keys]
    assert [b[:4] for b in before] == [a[:4] for a in after] and not any(b.byzantine for b in before)
    assert np.mean([a.byzantine for a in after]) == pytest.approx(0.2, abs=0.03)  # 2000 draws: > 3 sigma
    alone = FaultConfig(byzantine_prob=0.2)  # the same uniform whatever the other probabilities
    assert [a.byzantine for a in after] == [alone.draw(3, r, d).byzantine for r, d in keys]


def test_no_probability_draws_nothing(monkeypatch):
    def refuse(*args):
        raise AssertionError("a fault stream was drawn")

    monkeypatch.setattr(_faults, "numpy_stream", refuse)
    config = FaultConfig(attack="gaussian", attack_scale=9.0)  # an attack configured but never drawn
    assert config.draw(0, 1, 2) == DeviceFaults(False, False, False, False, False)
    assert not config.draw_round(0, 1, np.arange(5)).message_loss.any()


# -- the ClientApp's reply -----------------------------------------------------------------------
def _reply(faults: dict, byzantine: bool, uplink_bits: int = 32):
    task = SimpleNamespace(config=RunConfig.from_mapping({"seed": 4, "faults": faults}))
    op = OperatingPoint(train_bits=8, uplink_bits=uplink_bits, local_iters=1, devices_per_round=1)
    request = TrainRequest(3, 7, op, DeviceFaults(False, False, False, False, byzantine), PLAIN, None)
    content = train_reply(task, request, LocalResult(_delta(), 50, 1.0))
    update = decode_update(record_to_encoded(content["update"], uplink_bits), SHAPES)
    return update, dict(content["metrics"])


@pytest.mark.parametrize("attack", ATTACKS)
def test_train_reply_uploads_the_attacked_update_and_says_so(attack):
    faults = {"byzantine_prob": 0.3, "attack": attack, "attack_scale": 3.0}
    update, metrics = _reply(faults, byzantine=True)
    expected = attacked(_delta(), attack, 3.0, numpy_stream(4, "byzantine", 3, 7))
    for got, want in zip(update, expected):
        np.testing.assert_array_equal(got, want)  # float32 uplink: bit for bit
    assert metrics["byzantine"] == 1
    honest, metrics = _reply(faults, byzantine=False)
    assert all(np.array_equal(h, d) for h, d in zip(honest, _delta())) and metrics["byzantine"] == 0
    _, metrics = _reply({}, byzantine=False)
    assert "byzantine" not in metrics  # attack off: the reply is today's


# -- the ledger ----------------------------------------------------------------------------------
def test_the_byzantine_column_is_in_devices_csv_only_when_the_attack_is_on(tmp_path):
    fedsim.run(tiny_overrides(seed=5), tmp_path / "off")
    result = fedsim.run(tiny_overrides(seed=5, faults=BYZANTINE), tmp_path / "on")
    with (tmp_path / "off" / "devices.csv").open() as fh:
        assert "byzantine" not in fh.readline().split(",")
    rows = _devices(tmp_path / "on")
    assert list(rows[0])[-1] == "byzantine"
    config = FaultConfig(**BYZANTINE)
    flags = [r["byzantine"] for r in rows]
    assert flags == [str(int(config.draw(5, int(r["round"]), int(r["device"])).byzantine)) for r in rows]
    assert {"0", "1"} <= set(flags)
    assert [d["byzantine"] for d in result.devices] == [int(f) for f in flags]


def test_the_cohort_engine_attacks_the_same_devices_and_async_records_them(tmp_path):
    tiny = ["rounds=2", "world.num_devices=6", "op.devices_per_round=3", "op.local_iters=2", "model.hidden=[16]"]
    attack = "faults.byzantine_prob=0.5"
    sequential = fedsim.run(fedsim.compose([*tiny, "seed=5", attack]), tmp_path / "sequential")
    cohort = fedsim.run(fedsim.compose([*tiny, "seed=5", attack, "engine=cohort"]), tmp_path / "cohort")
    assert [d["byzantine"] for d in cohort.devices] == [d["byzantine"] for d in sequential.devices]
    assert {d["byzantine"] for d in sequential.devices} == {0, 1}
    fedbuff = [*tiny, "seed=2", "strategy=fedbuff", "strategy.concurrency=3", "strategy.buffer_size=3"]
    asynchronous = fedsim.run(fedsim.compose([*fedbuff, attack]), tmp_path / "async")
    header = (tmp_path / "async" / "devices.csv").read_text().splitlines()[0].split(",")
    assert header.index("byzantine") < header.index("staleness")  # the task's columns, then the async ones
    assert {d["byzantine"] for d in asynchronous.devices} == {0, 1}
    off = fedsim.run(fedsim.compose(fedbuff), tmp_path / "async_off")
    assert all("byzantine" not in d for d in off.devices)
