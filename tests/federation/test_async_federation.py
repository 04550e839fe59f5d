"""Asynchronous federations (issue 17): fedbuff and fedasync on the event-driven world, through the
same ClientApp on the in-process engine; the ledger's staleness columns; determinism."""

from __future__ import annotations

import csv

import pytest
from run_helpers import PINNED_SYNC_LEDGER, PINNED_SYNC_OVERRIDES, ledger_sha256, tiny_overrides

import fedsim
from fedsim.strategies import AsyncParams
from fedsim.ledger import DEVICE_COLUMNS


def async_overrides(name: str, macs_per_s: float = 1e7, **extra) -> dict:
    # Stragglers (2 of 6, 10x slower) keep some jobs running across aggregations: staleness > 0.
    strategy = {"name": name, "concurrency": 4, **({"buffer_size": 2} if name == "fedbuff" else {}), **extra.pop("strategy", {})}
    return tiny_overrides(rounds=6, strategy=strategy, devices={"straggler_fraction": 1 / 3, "macs_per_s": macs_per_s}, **extra)


def test_fedbuff_aggregates_every_buffer_and_records_staleness(tmp_path):
    result = fedsim.run(async_overrides("fedbuff"), tmp_path)
    rounds = result.rounds
    assert [r["round"] for r in rounds] == list(range(7))  # version 0, then one row per aggregation
    times = [r["sim_time_s"] for r in rounds]
    assert times[0] == 0.0 and all(b >= a for a, b in zip(times, times[1:])) and times[-1] > 0
    assert [r["delivered"] for r in rounds[1:]] == [2] * 6  # buffer_size arrivals each
    for r, previous in zip(rounds[1:], rounds):
        assert r["round_time_s"] == pytest.approx(r["sim_time_s"] - previous["sim_time_s"])
    devices = result.devices
    assert all(d["staleness"] == d["round"] - 1 - d["model_version"] for d in devices)
    assert max(d["staleness"] for d in devices) >= 1
    # Each aggregation's delivered updates are the device rows that arrived in its window.
    for r in rounds[1:]:
        window = [d for d in devices if d["round"] == r["round"]]
        assert sum(d["delivered"] for d in window) == r["delivered"]
        assert all(previous_time <= d["finish_s"] <= r["sim_time_s"] + 1e-12 for d in window for previous_time in [rounds[r["round"] - 1]["sim_time_s"]])
        assert r["energy_round_j"] == pytest.approx(sum(d["energy_compute_j"] + d["energy_uplink_j"] + d["energy_download_j"] for d in window))
        assert r["mean_staleness"] == pytest.approx(sum(d["staleness"] for d in window if d["delivered"]) / r["delivered"])
    header = (tmp_path / "devices.csv").read_text().splitlines()[0].split(",")
    assert header[: len(DEVICE_COLUMNS)] == list(DEVICE_COLUMNS)
    assert header[-3:] == ["staleness", "model_version", "rate_changes"]
    assert result.summary["strategy"]["name"] == "fedbuff" and result.summary["device_events"] > 0


def test_fedasync_moves_the_model_at_every_arrival():
    result = fedsim.run(async_overrides("fedasync", strategy={"mixing": 0.5}))
    assert [r["delivered"] for r in result.rounds[1:]] == [1] * 6
    accuracies = [r["test_accuracy"] for r in result.rounds]
    assert len(set(accuracies)) > 1  # the model changed


def test_an_async_run_is_byte_identical_per_seed(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        fedsim.run(async_overrides("fedbuff", seed=seed, availability={"kind": "onoff", "on_s": 1.0, "off_s": 0.5}), tmp_path / name)
    for name in ("rounds.csv", "devices.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()


def test_devices_that_leave_mid_job_are_lost_as_unavailable(tmp_path):
    # Online 0.4 s at a time: stragglers (2.3 s of training) never finish while online.
    result = fedsim.run(async_overrides("fedbuff", macs_per_s=1e6, availability={"kind": "onoff", "on_s": 0.4, "off_s": 0.2, "dwell": "fixed"}), tmp_path)
    reasons = {d["drop_reason"] for d in result.devices}
    assert "unavailable" in reasons
    lost = [d for d in result.devices if d["drop_reason"] == "unavailable"]
    assert all(not d["delivered"] and d["finish_s"] == pytest.approx(0.4 + 0.6 * round((d["finish_s"] - 0.4) / 0.6)) for d in lost)
    assert result.summary["drops"]["unavailable"] == len(lost)
    rows = list(csv.DictReader(open(tmp_path / "devices.csv")))
    assert {r["drop_reason"] for r in rows} >= {"", "unavailable"}


def test_the_synchronous_ledger_is_unchanged_by_the_async_keys(tmp_path):
    # The async knobs at their neutral values (set explicitly, fedbuff's knobs too) write the bytes
    # main's code wrote before the event-driven world existed.
    neutral = ["strategy=fedavg", "strategy.concurrency=3", "strategy.buffer_size=2", "availability=always",
               "devices.straggler_fraction=0", "devices.straggler_slowdown=10", "devices.speed_sigma=0"]
    fedsim.run(fedsim.compose(PINNED_SYNC_OVERRIDES + neutral), tmp_path)
    assert ledger_sha256(tmp_path) == PINNED_SYNC_LEDGER


def test_the_synchronous_ledger_keeps_its_columns(tmp_path):
    fedsim.run(tiny_overrides(), tmp_path)
    header = (tmp_path / "devices.csv").read_text().splitlines()[0].split(",")
    assert header == list(DEVICE_COLUMNS)  # no staleness columns for fedavg


@pytest.mark.parametrize(
    "kind, tau, expected",
    [("constant", 7, 1.0), ("polynomial", 3, 0.5), ("polynomial", 0, 1.0), ("hinge", 4, 1.0), ("hinge", 6, 1 / (0.5 * 2 + 1))],
)
def test_staleness_weights_by_hand(kind, tau, expected):
    assert AsyncParams(staleness=kind, staleness_a=0.5, staleness_b=4.0).staleness_weight(tau) == pytest.approx(expected)


# -- the control plane picks whom the asynchronous server dispatches ------------------------------
def _async_devices(policy: dict) -> list[dict]:
    return fedsim.run(tiny_overrides(rounds=6, strategy={"name": "fedbuff", "concurrency": 2, "buffer_size": 2},
                                     world={"num_devices": 6}, op={"devices_per_round": 2}, policy=policy)).devices


def test_best_channel_dispatches_the_strongest_idle_links_and_spends_less_uplink_energy():
    uniform, best = _async_devices({"name": "fixed"}), _async_devices({"name": "best_channel"})
    assert len({r["device"] for r in best}) < len({r["device"] for r in uniform})
    per_bit = lambda rows: sum(r["energy_uplink_j"] for r in rows) / sum(r["payload_bits"] for r in rows)  # noqa: E731
    assert per_bit(best) < per_bit(uniform)


def test_round_robin_dispatches_everyone_in_turn_and_fixed_devices_only_those():
    turns = [r["device"] for r in _async_devices({"name": "round_robin"})]
    assert set(turns) == set(range(6))
    assert {r["device"] for r in _async_devices({"name": "fixed", "devices": [1, 4]})} == {1, 4}
