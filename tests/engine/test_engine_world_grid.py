"""Any Flower app in the wireless world: the quickstart app, unchanged, plain and through WorldGrid."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fedsim
from fedsim.engine import InProcessGrid

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
app = importlib.import_module("quickstart_app")

WORLD = {"world": {"num_devices": 10}, "radio": {"downlink_power_w": 1.0}, "devices": {"rx_power_w": 0.05}}


def _run(config=None, out=None, **kwargs):
    return fedsim.run_flower_app(
        app.server_app, app.client_app, {**WORLD, **(config or {})}, out,
        model=app.make_model(), input_shape=(1, 8, 8), **kwargs,
    )


def test_the_app_runs_plain_on_the_in_process_grid():
    from flwr.app import Context, RecordDict

    grid = InProcessGrid(app.client_app, 10, {}, seed=0)
    context = Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={})
    app.server_app(grid, context)
    assert "final" in context.state


def test_the_world_prices_downlink_compute_and_uplink_per_device(tmp_path):
    result = _run(out=tmp_path)
    train = [r for r in result.devices if r["message_type"] == "train"]
    assert len(train) == 3 * 5  # FedAvg samples half of the 10 nodes for 3 rounds
    for row in train:
        assert row["energy_download_j"] > 0 and row["energy_compute_j"] > 0 and row["energy_uplink_j"] > 0
        # Every record as Flower counts it: float32 weights npy-serialized (2856) and their keys
        # (14), plus the config {lr, server-round} (30) down and the metrics {train_loss, num-examples} (38) up.
        assert (row["downlink_bytes"], row["uplink_bytes"]) == (2856 + 14 + 30, 2856 + 14 + 38)
        assert row["payload_bits"] == 8 * row["uplink_bytes"]
    evaluate = [r for r in result.rounds if r["message_type"] == "evaluate"]
    assert len(evaluate) == 3 and evaluate[-1]["test_accuracy"] > evaluate[0]["test_accuracy"]
    assert result.summary["final_accuracy"] == evaluate[-1]["test_accuracy"]
    again = _run()
    assert [r["device"] for r in again.devices] == [r["device"] for r in result.devices]  # seeded sampler
    assert again.summary["total_energy_j"] == result.summary["total_energy_j"]
    assert {p.name for p in tmp_path.iterdir()} >= {"rounds.csv", "devices.csv", "summary.json", "config.yaml"}
    written = fedsim_plot(tmp_path)
    assert any(p.endswith("accuracy_vs_energy.png") for p in written)


def fedsim_plot(path: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "fedsim", "plot", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_a_deadline_drops_replies_and_fedavg_still_finishes():
    result = _run({"world": {"num_devices": 10, "deadline_s": 0.0016}})
    train = [r for r in result.devices if r["message_type"] == "train"]
    dropped = [r for r in train if not r["delivered"]]
    assert dropped and all(r["drop_reason"] == "deadline" for r in dropped)
    assert any(r["delivered"] for r in train)
    rounds = [r for r in result.rounds if r["message_type"] == "train"]
    assert [r["delivered"] for r in rounds] == [sum(d["delivered"] for d in train if d["round"] == r["round"]) for r in rounds]
    assert np.isfinite(result.summary["final_accuracy"])


def test_an_int8_payload_costs_less_uplink_energy_than_float32():
    float32 = _run(run_config={"payload": "float32"})
    int8 = _run(run_config={"payload": "int8"})

    def uplink(result):
        rows = [r for r in result.devices if r["message_type"] == "train"]
        return sum(r["uplink_bytes"] for r in rows), sum(r["energy_uplink_j"] for r in rows)

    (bytes32, joules32), (bytes8, joules8) = uplink(float32), uplink(int8)
    assert bytes8 < 0.5 * bytes32 and joules8 < 0.5 * joules32


@pytest.mark.slow  # subprocesses: the default suite's budget (CI runs the slow suite too)
def test_bad_inputs_are_one_line_errors(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "fedsim", "run-app", *args], capture_output=True, text=True, cwd=HERE)

    for args in (["nowhere:server_app", "quickstart_app:client_app"], ["quickstart_app:make_model", "quickstart_app:client_app"],
                 ["quickstart_app:server_app", "quickstart_app"]):
        out = cli(*args, f"--output={tmp_path / 'x'}")
        assert out.returncode == 2, out.stderr
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("fedsim: error:"), out.stderr
    # Without devices.energy.macs the MACs are counted in the first train call: see
    # tests/engine/test_run_app_quickstart.py (and its app without torch, a one-line error).


@pytest.mark.slow  # subprocesses: the default suite's budget (CI runs the slow suite too)
def test_the_cli_runs_the_app(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "fedsim", "run-app", "quickstart_app:server_app", "quickstart_app:client_app",
         "world.num_devices=10", "devices.energy.macs=650", f"--output={tmp_path}"],
        capture_output=True, text=True, cwd=HERE,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "summary.json").is_file() and "ledger:" in out.stdout


@pytest.mark.slow  # subprocesses: the default suite's budget (CI runs the slow suite too)
def test_the_cli_runs_a_flower_app_directory(tmp_path):
    project = tmp_path / "app"
    project.mkdir()
    (project / "quickstart_app.py").write_text((HERE / "quickstart_app.py").read_text())
    (project / "pyproject.toml").write_text(
        '[tool.flwr.app.components]\nserverapp = "quickstart_app:server_app"\nclientapp = "quickstart_app:client_app"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "fedsim", "run-app", str(project), "world.num_devices=10", "devices.energy.macs=650",
         f"--output={tmp_path / 'ledger'}"],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "ledger" / "devices.csv").is_file()


def test_an_app_whose_messages_carry_no_arrays_is_a_one_line_error():
    from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp

    client, server = ClientApp(), ServerApp()

    @client.train()
    def train(msg: Message, context: Context) -> Message:
        return Message(RecordDict({"config": ConfigRecord({"ok": 1})}), reply_to=msg)

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        nodes = list(grid.get_node_ids())
        grid.send_and_receive([Message(RecordDict({"config": ConfigRecord({"x": 1})}), dst_node_id=n, message_type=MessageType.TRAIN) for n in nodes])

    with pytest.raises(fedsim.ConfigError, match="^app=") as info:
        fedsim.run_flower_app(server, client, {**WORLD, "devices": {"energy": {"macs": 100.0}}})
    assert "\n" not in str(info.value)
