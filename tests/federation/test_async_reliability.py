"""Asynchronous federations are as reliable as synchronous rounds (issue 30): a non-finite update is
excluded and recorded (``nonfinite_update``), a global model that turns non-finite stops the run
(``model_diverged``), a crashed ClientApp is retried on a later dispatch, and a run that cannot
reach its aggregations (batteries dead, an availability trace that ends, every update useless)
says so in one warning line and summary.json, and fails with one line when it aggregated nothing."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_faults import _cli as faults_cli

import fedsim
from fedsim.federation import _async_server
from fedsim.world import CLIENT_ERROR, NONFINITE_UPDATE, World, WorldConfig
from fedsim.world._async_world import AsyncWorld
from fedsim.world._availability import AvailabilityConfig
from fedsim.workload import Workload

# Four aggregations of two arrivals, three devices training at once out of six.
ASYNC = ["strategy=fedbuff", "rounds=4", "world.num_devices=6", "op.devices_per_round=3", "op.local_iters=1", "model.hidden=[8]",
         "strategy.concurrency=3", "strategy.buffer_size=2"]


def _run(extra: list[str], out: Path | None = None) -> fedsim.RunResult:
    return fedsim.run(fedsim.compose([*ASYNC, *extra]), out)


def _cli(args: list[str], out: Path, capfd) -> tuple[int, list[str]]:
    """``fedsim run`` of ASYNC and ``args`` in process: its exit status and stderr lines (as test_faults reads them)."""
    return faults_cli(args, out, capfd, prefix=ASYNC)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


# -- 1. non-finite updates ------------------------------------------------------------------------
def test_non_finite_updates_are_excluded_and_recorded_and_the_model_stays_finite(tmp_path):
    """The acceptance test: half the uploads hold NaN/inf; the run finishes with a finite model."""
    result = _run(["faults.nonfinite_prob=0.5"], tmp_path)
    assert all(np.isfinite(t.numpy()).all() for t in result.final_state.values())
    assert all(np.isfinite(r["test_loss"]) for r in result.rounds) and result.rounds[-1]["round"] == 4
    rows = _csv(tmp_path / "devices.csv")
    dropped = [r for r in rows if r["drop_reason"] == NONFINITE_UPDATE]
    assert len(dropped) >= 3 and all(r["delivered"] == "0" and r["num_examples"] != "" for r in dropped)
    assert _summary(tmp_path)["drops"][NONFINITE_UPDATE] == len(dropped)
    for r in _csv(tmp_path / "rounds.csv")[1:]:  # each aggregation took buffer_size finite updates
        window = [d for d in rows if d["round"] == r["round"]]
        assert int(r["delivered"]) == sum(d["delivered"] == "1" for d in window) == 2
        assert int(r["selected"]) == len(window)


def test_a_real_nan_from_training_is_excluded_as_non_finite(monkeypatch):
    from fedsim.tasks._classifier import ClassifierTask

    train = ClassifierTask.local_update

    def local_update(self, record, device, *args, **kwargs):  # device 2 diverges: its weights hold NaN
        result = train(self, record, device, *args, **kwargs)
        if device == 2:
            result.update[0][...] = np.nan
        return result

    monkeypatch.setattr(ClassifierTask, "local_update", local_update)
    result = _run([])
    reasons = {(d["device"], d["drop_reason"]) for d in result.devices if d["device"] == 2}
    assert reasons == {(2, NONFINITE_UPDATE)}
    assert all(np.isfinite(t.numpy()).all() for t in result.final_state.values())


# -- 2. a diverging global model ------------------------------------------------------------------
def test_a_diverged_global_model_stops_the_run_as_synchronous_rounds_do(monkeypatch, tmp_path, capfd):
    from fedsim.tasks import _task

    apply, calls = _task.apply_update, []

    def apply_update(record, keys, delta):  # the second aggregation overflows float32
        calls.append(1)
        if len(calls) == 2:
            big = [np.full_like(d, 3e38) for d in delta]
            return apply(apply(record, keys, big), keys, big)
        return apply(record, keys, delta)

    monkeypatch.setattr(_task, "apply_update", apply_update)
    with pytest.raises(fedsim.ModelDivergedError) as info:
        _run([], tmp_path / "api")
    assert str(info.value).startswith("the global model became non-finite (NaN/inf) in round 2;") and "\n" not in str(info.value)
    assert "strategy.server_lr=1" in str(info.value)
    summary = _summary(tmp_path / "api")
    assert summary["stopped"] == "model_diverged" and summary["stopped_round"] == 2
    assert [r["round"] for r in _csv(tmp_path / "api" / "rounds.csv")] == ["0", "1", "2"]
    assert not (tmp_path / "api" / "model.pt").exists() and not (tmp_path / "api" / "checkpoint.pt").exists()
    calls.clear()
    code, lines = _cli([], tmp_path / "cli", capfd)
    assert code == 1 and len(lines) == 1 and lines[0].startswith("fedsim: error: the global model became non-finite"), lines


# -- 3. a run that ends before its aggregations ---------------------------------------------------
def test_dead_batteries_end_the_run_early_with_a_warning_and_a_summary_field(tmp_path, capfd):
    # Each battery pays for about one job and nothing recharges it: 1 of 5 aggregations.
    code, lines = _cli(["rounds=5", "devices.battery_j=8.5e-6"], tmp_path, capfd)
    assert code == 0, lines
    assert lines == ["fedsim: warning: the run ended after 1 of its 5 aggregations: no device is training and none can start again "
                     "(of 6 devices, 6 sleep on an empty battery that nothing recharges)"], lines
    summary = _summary(tmp_path)
    assert (summary["stopped"], summary["stopped_round"], summary["aggregations_planned"], summary["rounds"]) == ("no_device_left", 1, 5, 1)
    assert not (tmp_path / "checkpoint.pt").exists() and (tmp_path / "model.pt").exists()


def test_a_trace_that_leaves_nobody_fails_with_one_line(tmp_path, capfd):
    # Every device is online for its first millisecond only: each job is lost, nothing is aggregated.
    trace = tmp_path / "trace.csv"
    trace.write_text("device,start_s,end_s\n" + "".join(f"{d},0,0.001\n" for d in range(6)))
    code, lines = _cli(["rounds=3", "availability=trace", f"availability.trace_path={trace}", "devices.macs_per_s=1e7"], tmp_path / "run", capfd)
    assert code == 1, lines
    assert lines == ["fedsim: error: no update was aggregated: the run ended before the first of its 3 aggregations: no device is training "
                     "and none can start again (of 6 devices, 6 are offline for good)"], lines
    assert not (tmp_path / "run" / "summary.json").exists()


def test_advance_returns_none_once_only_cancelled_events_are_left(tmp_path):
    """Point 5: a trace whose intervals all end while the devices train. Their jobs' own events stay
    queued after the loss; once they are all that is left, ``advance`` ends cleanly (None, nothing
    pending) instead of raising IndexError."""
    trace = tmp_path / "trace.csv"
    trace.write_text("device,start_s,end_s\n0,0,0.5\n1,0,0.25\n")
    config = WorldConfig.of(num_devices=2, macs_per_s=9600.0, availability=AvailabilityConfig(kind="trace", trace_path=str(trace)))
    world = AsyncWorld(World(config, Workload(params=10, macs=100, activations=10, input_size=10), 0))
    for device in (0, 1):  # 1 s of training: both go off before their 'ready'
        world.dispatch(device, local_iters=1, train_bits=8, uplink_bits=100.0, downlink_bits=0.0, version=0)
    lost = [world.advance(), world.advance()]
    assert [(job.device, job.drop_reason, job.finish_s) for job in lost] == [(1, "unavailable", 0.25), (0, "unavailable", 0.5)]
    assert world.pending_events == 2 and world.busy == 0  # the two cancelled 'ready' events
    assert world.advance() is None and world.pending_events == 0
    assert world.advance() is None


def test_only_useless_updates_starve_the_run_and_it_fails_with_one_line(tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(_async_server, "STARVED_AFTER_MIN", 20)
    code, lines = _cli(["rounds=2", "faults.nonfinite_prob=1"], tmp_path, capfd)
    assert code == 1, lines
    assert lines == ["fedsim: error: no update was aggregated: the run ended before the first of its 2 aggregations: none of the last 20 "
                     "jobs delivered an update to aggregate (drops since the last aggregation: {'nonfinite_update': 20})"], lines


# -- 4. crashed ClientApps are retried ------------------------------------------------------------
def test_a_crashed_client_is_retried_on_a_later_dispatch(tmp_path):
    result = _run(["rounds=6", "faults.client_crash_prob=0.3"], tmp_path)
    crashed = [d for d in result.devices if d["drop_reason"] == CLIENT_ERROR]
    assert crashed and result.summary["client_errors"] == len(crashed) == result.summary["drops"][CLIENT_ERROR]
    assert all(d["num_examples"] is None and d["energy_compute_j"] == 0.0 and d["payload_bits"] == 0 for d in crashed)
    delivered_later = {d["device"] for d in result.devices if d["delivered"]}
    retried = [d for d in crashed if any(o["device"] == d["device"] and o["delivered"] and o["round"] >= d["round"] for o in result.devices)]
    assert retried, (crashed, delivered_later)  # a device that crashed trained again and delivered afterwards
    assert Counter(d["device"] for d in crashed).most_common(1)[0][1] >= 1


def test_a_run_whose_every_client_crashes_exits_1_with_the_synchronous_line(tmp_path, capfd):
    code, lines = _cli(["faults.client_crash_prob=1"], tmp_path, capfd)
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith("fedsim: error: every ClientApp failed, no update was aggregated; the first error: InjectedFaultError"), lines


def test_a_faulty_async_run_is_byte_identical_per_seed(tmp_path):
    extra = ["faults.client_crash_prob=0.2", "faults.nonfinite_prob=0.2", "availability=onoff", "availability.on_s=0.05", "availability.off_s=0.02"]
    for name in ("a", "b"):
        _run(extra, tmp_path / name)
    for name in ("rounds.csv", "devices.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
