"""Experiment trackers read back with each tool's own reader: TensorBoard's EventAccumulator and
MLflow's MlflowClient, for a run, a resumed run and a sweep; and a tracker that fails."""

from __future__ import annotations

import csv
import os
import json
from pathlib import Path

import numpy as np
import pytest

import fedsim
from fedsim.cli import main
from fedsim.federation import server_app

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")

from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

ROUNDS = 4
TINY = {"rounds": ROUNDS, "world": {"num_devices": 4}, "op": {"devices_per_round": 2, "local_iters": 1}, "model": {"hidden": [8]}}
TINY_CLI = ["world.num_devices=4", "op.devices_per_round=2", "op.local_iters=1", "model.hidden=[8]"]


def _ledger(run_dir: Path) -> list[dict]:
    return list(csv.DictReader(open(run_dir / "rounds.csv")))


def _scalars(run_dir: Path, column: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(f"rounds/{column}")]


class Killed(BaseException):
    """A simulated kill -9."""


def _kill_before_checkpoint(monkeypatch, k: int) -> None:
    # Round k's rows (and the tracker's step k) are written, its checkpoint is not: the resumed
    # run redoes round k, and the tracker must not show step k twice.
    save = server_app.save_checkpoint

    def save_checkpoint(output_dir, checkpoint):
        if checkpoint.round == k:
            raise Killed
        return save(output_dir, checkpoint)

    monkeypatch.setattr(server_app, "save_checkpoint", save_checkpoint)


def test_tensorboard_holds_every_rounds_accuracy_and_energy_of_the_ledger(tmp_path):
    fedsim.run({**TINY, "tracking": {"kind": "tensorboard"}}, tmp_path)
    rows = _ledger(tmp_path)
    for column in ("test_accuracy", "energy_cum_j", "energy_round_j", "sim_time_s"):
        logged = _scalars(tmp_path, column)
        assert [step for step, _ in logged] == [int(r["round"]) for r in rows]
        # TensorBoard stores float32: the ledger's values, rounded to float32.
        assert [value for _, value in logged] == [float(np.float32(float(r[column]))) for r in rows]


def test_a_resumed_run_continues_its_tensorboard_history_with_each_step_once(tmp_path, monkeypatch):
    config = {**TINY, "tracking": {"kind": "tensorboard"}}
    with monkeypatch.context() as patch:
        _kill_before_checkpoint(patch, 2)
        with pytest.raises(Killed):
            fedsim.run(config, tmp_path)
    assert [s for s, _ in _scalars(tmp_path, "test_accuracy")] == [0, 1, 2]  # step 2 logged, not checkpointed
    fedsim.resume(tmp_path)
    rows = _ledger(tmp_path)
    logged = _scalars(tmp_path, "test_accuracy")
    assert [s for s, _ in logged] == list(range(ROUNDS + 1))
    assert [v for _, v in logged] == [float(np.float32(float(r["test_accuracy"]))) for r in rows]


def _mlflow(tmp_path: Path) -> tuple[str, MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    return uri, MlflowClient(uri)


def test_mlflow_holds_the_params_metrics_and_files_of_a_run_and_resume_logs_each_step_once(tmp_path, monkeypatch):
    uri, client = _mlflow(tmp_path)
    out = tmp_path / "run"
    config = {**TINY, "tracking": {"kind": "mlflow", "uri": uri}}
    with monkeypatch.context() as patch:
        _kill_before_checkpoint(patch, 3)
        with pytest.raises(Killed):
            fedsim.run(config, out)
    fedsim.resume(out)
    run_id = json.loads((out / "tracking.json").read_text())["run_id"]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params["config.rounds"] == str(ROUNDS)
    rows = _ledger(out)
    for column in ("test_accuracy", "energy_cum_j"):
        history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, column))
        assert history == [(int(r["round"]), float(r[column])) for r in rows]  # each step once, float64 exact
    summary = json.loads((out / "summary.json").read_text())
    assert run.data.metrics["summary.final_accuracy"] == summary["final_accuracy"]
    assert {a.path for a in client.list_artifacts(run_id)} >= {"config.yaml", "rounds.csv", "devices.csv", "summary.json"}


def test_a_three_job_sweep_is_one_mlflow_experiment_with_the_swept_key_as_a_param(tmp_path, capfd):
    uri, client = _mlflow(tmp_path)
    sweep = tmp_path / "sweep"
    code = main(["run", "-m", "seed=0,1,2", "rounds=2", *TINY_CLI, "tracking=mlflow", f"tracking.uri={uri}", f"hydra.sweep.dir={sweep}"])
    assert code == 0, capfd.readouterr().err
    experiment = client.get_experiment_by_name(f"fedsim sweep {sweep}")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["seed"] for r in runs) == ["0", "1", "2"]
    for r in runs:
        assert len(client.get_metric_history(r.info.run_id, "test_accuracy")) == 3  # rounds 0, 1, 2
        assert r.info.status == "FINISHED"


def test_an_unreachable_tracker_is_one_warning_and_the_run_and_ledger_go_on(tmp_path, capfd):
    reference = tmp_path / "plain"
    fedsim.run(TINY, reference)
    capfd.readouterr()
    out = tmp_path / "tracked"
    fedsim.run({**TINY, "tracking": {"kind": "mlflow", "uri": "http://127.0.0.1:9"}}, out)  # nothing listens there
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fedsim: warning: tracking=mlflow stopped"), lines
    for name in ("rounds.csv", "devices.csv"):
        assert (out / name).read_bytes() == (reference / name).read_bytes()


def test_a_tracker_whose_package_is_missing_is_a_one_line_error_naming_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("wandb", "mlflow") else real(name, *a))
    with pytest.raises(fedsim.ConfigError, match=r"tracking.kind='mlflow' is not allowed: .*pip install 'fedsim\[tracking\]'"):
        fedsim.RunConfig.from_mapping({"tracking": {"kind": "mlflow"}})
    with pytest.raises(fedsim.ConfigError, match=r"tracking.kind='wandb' is not allowed: .*pip install 'fedsim\[wandb\]'"):
        fedsim.RunConfig.from_mapping({"tracking": {"kind": "wandb"}})


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_mlflow_ui_lists_a_three_job_sweep_over_its_rest_api(tmp_path, capfd):
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    uri, _ = _mlflow(tmp_path)
    sweep = tmp_path / "sweep"
    assert main(["run", "-m", "seed=0,1,2", "rounds=2", *TINY_CLI, "tracking=mlflow", f"tracking.uri={uri}", f"hydra.sweep.dir={sweep}"]) == 0
    port = _free_port()
    # `mlflow ui` on the store, as a user opens it; its own process group, stopped by PID below.
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"

    def post(path: str, body: dict) -> dict:
        request = urllib.request.Request(f"{base}/{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    try:
        deadline, experiments = time.monotonic() + 120, None
        while experiments is None:
            try:
                experiments = post("experiments/search", {"max_results": 100})["experiments"]
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "mlflow ui did not start"
                time.sleep(0.5)
        experiment = next(e for e in experiments if e["name"] == f"fedsim sweep {sweep}")
        runs = post("runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
        seeds = sorted(p["value"] for r in runs for p in r["data"]["params"] if p["key"] == "seed")
        assert seeds == ["0", "1", "2"]
        assert all(r["info"]["status"] == "FINISHED" for r in runs)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _children_named(fragment: str) -> list[int]:
    """PIDs of this process's children whose command line holds ``fragment`` (Linux /proc)."""
    me, found = str(os.getpid()), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[1] == me and fragment in (stat.parent / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(stat.parent.name))
        except (OSError, IndexError):
            continue
    return found


def test_wandb_runs_offline_into_the_run_directory_and_leaves_no_service_behind(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc login: offline
    fedsim.run({**TINY, "tracking": {"kind": "wandb"}}, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "tracking.json").read_text())
    offline = list((tmp_path / "run" / "wandb").glob(f"offline-run-*-{saved['run_id']}"))
    assert saved["kind"] == "wandb" and len(offline) == 1
    assert (offline[0] / f"run-{saved['run_id']}.wandb").stat().st_size > 0  # its history, for `wandb sync`
    assert json.loads((offline[0] / "files" / "summary.json").read_text())["rounds"] == ROUNDS
    assert _children_named("wandb") == []
