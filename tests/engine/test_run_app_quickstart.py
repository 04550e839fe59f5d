"""`fedsim run-app DIR`: a quickstart-style Flower app directory (tests/engine/apps/quickstart, laid
out as Flower's quickstart-pytorch template) runs unchanged, with nothing but its directory given:
its [tool.flwr.app.config] is the run config (--run-config overrides it), the MACs are counted in
its first train call, the rounds are its server rounds, the downlink is priced, the plots are
titled after it; and every way such an app can fail is one line on the CLI."""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import fedsim
from fedsim.cli import main

APPS = Path(__file__).resolve().parent / "apps"
QUICKSTART = APPS / "quickstart"
FAILURES = APPS / "failures"
SMALL = ["world.num_devices=4"]  # FedAvg's minimum of 2 nodes trains 2 of them, evaluates all 4


def cli(*args: str) -> tuple[int, str, list[str]]:
    """``fedsim run-app ARGS`` in-process: exit status, stdout, and stderr's lines."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run-app", *args])
    return code, out.getvalue(), [line for line in err.getvalue().splitlines() if line.strip()]


def _csv(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory) -> Path:
    """One run of the app, its directory only (no MACs, no run config): the ledger's directory."""
    out = tmp_path_factory.mktemp("quickstart") / "ledger"
    code, stdout, errors = cli(str(QUICKSTART), *SMALL, "--output", str(out))
    assert code == 0, errors
    assert errors == [] and "3 server rounds" in stdout and str(out) in stdout
    return out


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_the_app_runs_unchanged_and_its_rounds_are_its_server_rounds(quickstart):
    summary = _summary(quickstart)
    assert summary["rounds"] == 3  # num-server-rounds of [tool.flwr.app.config]
    assert summary["message_batches"] == 6  # a train and an evaluate batch each round
    assert summary["app"]["run_config"] == {"num-server-rounds": 3, "fraction-train": 0.5, "local-epochs": 1, "lr": 0.1, "batch-size": 16}
    rounds = _csv(quickstart / "rounds.csv")
    assert [(int(r["round"]), r["message_type"]) for r in rounds] == [(k, t) for k in (1, 2, 3) for t in ("train", "evaluate")]
    assert all(math.isfinite(float(r["test_accuracy"])) for r in rounds if r["message_type"] == "evaluate")
    devices = _csv(quickstart / "devices.csv")
    assert sorted({int(d["round"]) for d in devices}) == [1, 2, 3]
    assert summary["final_accuracy"] == float(rounds[-1]["test_accuracy"]) > 0.5


def test_the_macs_are_counted_in_the_first_train_call(quickstart):
    summary = _summary(quickstart)
    # Linear(64, 10) on an 8x8 image: 64 * 10 MACs forward; backward only the weight gradient
    # (10 x 64: the input needs none, the bias gradient is a sum), also 640.
    assert summary["macs_per_example"] == 640.0
    assert summary["backward_macs_per_example"] == 640.0
    assert summary["macs_source"] == "measured: forward and backward counted apart"
    config = fedsim.compose([])
    for row in _csv(quickstart / "devices.csv"):
        if row["message_type"] == "train":  # 64 examples x 1 epoch, one example per iteration
            assert int(row["local_iters"]) == 64 == int(row["num_examples"])
            assert float(row["compute_s"]) == pytest.approx(64 * (640 + 640) / config.devices.macs_per_s, rel=1e-12)
        else:  # 32 test examples, the forward half of a step each
            assert int(row["local_iters"]) == 16 and int(row["num_examples"]) == 32


def test_the_downlink_and_every_record_are_priced(quickstart):
    from flwr.app import ArrayRecord, ConfigRecord, MetricRecord

    sys.path.insert(0, str(QUICKSTART))
    try:
        from fixture_quickstart.task import Net
    finally:
        sys.path.remove(str(QUICKSTART))
    arrays = ArrayRecord(Net().state_dict()).count_bytes()
    expected_down = {"train": arrays + ConfigRecord({"lr": 0.1, "server-round": 1}).count_bytes(),
                     "evaluate": arrays + ConfigRecord({"server-round": 1}).count_bytes()}
    expected_up = {"train": arrays + MetricRecord({"train_loss": 0.0, "num-examples": 0}).count_bytes(),
                   "evaluate": MetricRecord({"eval_loss": 0.0, "eval_acc": 0.0, "num-examples": 0}).count_bytes()}
    summary = _summary(quickstart)
    power_w, rx_w = summary["downlink_power_w"], summary["rx_power_w"]
    assert (power_w, rx_w) == (20.0, 0.05)  # run-app's defaults: fedsim's own model no downlink
    bandwidth_hz, noise_w_hz = 10e6, 10 ** ((-174 - 30) / 10)  # green_qfl radio, no noise figure
    devices = _csv(quickstart / "devices.csv")
    rounds = _csv(quickstart / "rounds.csv")
    batches: dict[tuple[str, str], list[dict]] = {}
    for row in devices:
        batches.setdefault((row["round"], row["message_type"]), []).append(row)
    assert len(batches) == len(rounds) == 6
    for (_, kind), rows in batches.items():
        for row in rows:
            assert int(row["downlink_bytes"]) == expected_down[kind]
            assert int(row["uplink_bytes"]) == expected_up[kind] and int(row["payload_bits"]) == 8 * expected_up[kind]
        gains = np.array([float(r["channel_gain"]) for r in rows])
        rate_bps = bandwidth_hz * np.log2(1 + power_w * gains / (noise_w_hz * bandwidth_hz))
        download_s = 8 * expected_down[kind] / rate_bps.min()  # broadcast at the worst device's rate
        for row in rows:
            assert float(row["download_s"]) == pytest.approx(download_s, rel=1e-9) and download_s > 0
            assert float(row["energy_download_j"]) == pytest.approx(rx_w * download_s, rel=1e-9)
    assert [int(r["downlink_bytes"]) for r in rounds] == [expected_down[r["message_type"]] for r in rounds]
    assert summary["energy_download_j"] == pytest.approx(sum(float(r["energy_download_j"]) for r in devices), rel=1e-9)


def test_the_plots_are_titled_after_the_app(quickstart):
    from analysis import load_run
    from analysis._plot_common import op_title

    title = op_title(load_run(quickstart))
    assert title.startswith("fedsim-quickstart-fixture | num-server-rounds=3, ") and title.endswith("| 4 devices, seed 0")
    assert "digits" not in title and "bit" not in title


def test_run_config_overrides_the_apps_config(tmp_path):
    code, stdout, errors = cli(str(QUICKSTART), *SMALL, "--run-config", "num-server-rounds=2 local-epochs=2", f"--output={tmp_path}")
    assert code == 0, errors
    summary = _summary(tmp_path)
    assert summary["rounds"] == 2 and summary["app"]["run_config"]["num-server-rounds"] == 2
    assert summary["app"]["local_epochs"] == 2 and summary["macs_per_example"] == 640.0  # two epochs counted, two divided
    train = [r for r in _csv(tmp_path / "devices.csv") if r["message_type"] == "train"]
    assert {int(r["local_iters"]) for r in train} == {128}


def test_the_same_seed_gives_the_same_ledger(quickstart, tmp_path):
    """The app initialises its model from torch's global generator, unseeded: fedsim seeds
    Python's, numpy's and torch's global generators from `seed` while the app runs."""
    code, _, errors = cli(str(QUICKSTART), *SMALL, "--output", str(tmp_path / "again"))
    assert code == 0, errors
    for name in ("rounds.csv", "devices.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (quickstart / name).read_bytes(), name
    code, _, errors = cli(str(QUICKSTART), *SMALL, "seed=1", "--output", str(tmp_path / "other"))
    assert code == 0, errors
    assert (tmp_path / "other" / "rounds.csv").read_bytes() != (quickstart / "rounds.csv").read_bytes()


# -- failures: one line each, exit 2 for an app that cannot run, 1 for a run that failed ------

def test_an_app_that_raises_on_import_is_one_line(tmp_path):
    code, _, errors = cli(str(APPS / "broken_import"), f"--output={tmp_path / 'out'}")
    assert code == 2 and len(errors) == 1, errors
    assert errors[0].startswith("fedsim: error: server_app='fixture_broken.server_app:app' is not allowed")
    assert errors[0].endswith("(RuntimeError: DATA_DIR is not set)")
    assert not (tmp_path / "out").exists()
    syntax = tmp_path / "syntax"
    (syntax / "fixture_syntax").mkdir(parents=True)
    (syntax / "fixture_syntax" / "__init__.py").write_text("")
    (syntax / "fixture_syntax" / "client_app.py").write_text("def train(msg, context:\n    pass\n")
    (syntax / "pyproject.toml").write_text(
        '[tool.flwr.app.components]\nserverapp = "fixture_syntax.client_app:server"\nclientapp = "fixture_syntax.client_app:app"\n'
    )
    code, _, errors = cli(str(syntax))
    assert code == 2 and len(errors) == 1, errors
    assert errors[0].endswith("an importable MODULE:OBJECT (SyntaxError: '(' was never closed (client_app.py, line 1))"), errors


def test_a_run_in_which_every_client_app_failed_exits_1(tmp_path):
    code, _, errors = cli(str(FAILURES), *SMALL, f"--output={tmp_path}")
    assert code == 1 and len(errors) == 1, errors
    assert errors[0].startswith("fedsim: error: every ClientApp failed, no update was aggregated; the first error: ValueError: partition")
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize(("server", "client", "extra", "code", "fragment"), [
    ("raising_server", "raising_client", [], 1, "the ServerApp raised KeyError: 'num-server-rounds'"),
    ("server_app", "no_arrays_client", ["devices.energy.macs=100"], 1, "(4 train replies carried no ArrayRecord)"),
    ("server_app", "numpy_client", [], 2, "devices.energy.macs=None is not allowed"),
], ids=["server-app-raises", "reply-without-arrays", "no-torch-to-count-macs"])
def test_app_failures_are_one_line(server, client, extra, code, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(FAILURES)  # MODULE:OBJECT is imported from the current directory
    status, _, errors = cli(f"fixture_failures.apps:{server}", f"fixture_failures.apps:{client}", *SMALL, *extra, f"--output={tmp_path / 'out'}")
    assert status == code and len(errors) == 1 and errors[0].startswith("fedsim: error: "), errors
    assert fragment in errors[0], errors[0]
    if code == 2:  # MACs that cannot be counted stop the run before anything is priced or written
        assert not (tmp_path / "out").exists()


# -- the Python API: the same app objects, server rounds without Flower's markers --------------

def test_server_rounds_are_counted_when_the_app_does_not_mark_them():
    from flwr.app import Array, ArrayRecord, Context, Message, MessageType, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    import torch

    client, server = ClientApp(), ServerApp()

    @client.train()
    def train(msg: Message, context: Context) -> Message:
        weights = torch.tensor(msg.content["arrays"]["w"].numpy(), requires_grad=True)
        (torch.ones(5, 3) @ weights).sum().backward()  # 5 examples x 3 x 2 MACs forward
        reply = {"arrays": ArrayRecord({"w": Array(weights.detach().numpy())}), "metrics": MetricRecord({"num-examples": 5})}
        return Message(RecordDict(reply), reply_to=msg)

    @client.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        with torch.no_grad():
            torch.ones(5, 3) @ torch.tensor(msg.content["arrays"]["w"].numpy())  # 5 examples x 3 x 2 MACs
        return Message(RecordDict({"metrics": MetricRecord({"num-examples": 5, "accuracy": 0.5})}), reply_to=msg)

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        nodes = list(grid.get_node_ids())
        arrays = ArrayRecord({"w": Array(np.zeros((3, 2), dtype=np.float32))})
        for kind in (MessageType.EVALUATE, MessageType.TRAIN, MessageType.EVALUATE, MessageType.TRAIN, MessageType.TRAIN):
            grid.send_and_receive([Message(RecordDict({"arrays": arrays}), dst_node_id=n, message_type=kind) for n in nodes])

    result = fedsim.run_flower_app(server, client, {"world": {"num_devices": 3}, "radio": {"downlink_power_w": 1.0}})
    # No server-round, no group id: an evaluation before training is round 0 (the initial
    # model), a training batch opens the next round, an evaluation belongs to the round in progress.
    assert [(r["round"], r["message_type"]) for r in result.rounds] == [
        (0, "evaluate"), (1, "train"), (1, "evaluate"), (2, "train"), (3, "train")]
    assert result.summary["rounds"] == 3
    # The first call was an evaluation: the MACs are its forward pass, the backward the World's
    # default of twice the forward.
    assert result.summary["macs_source"] == "measured: forward only (evaluation)"
    assert (result.summary["macs_per_example"], result.summary["backward_macs_per_example"]) == (6.0, 12.0)
    assert result.summary["downlink_power_w"] == 1.0 and result.summary["rx_power_w"] == 0.05  # the given power is kept


def test_a_run_config_object_is_taken_as_given():
    sys.path.insert(0, str(QUICKSTART))
    try:
        from fixture_quickstart.client_app import app as client_app
        from fixture_quickstart.server_app import app as server_app
    finally:
        sys.path.remove(str(QUICKSTART))
    run_config = {"num-server-rounds": 1, "fraction-train": 0.5, "local-epochs": 1, "lr": 0.1, "batch-size": 32}
    result = fedsim.run_flower_app(server_app, client_app, fedsim.compose(["world.num_devices=4", "op.devices_per_round=4"]), run_config=run_config)
    assert result.summary["rounds"] == 1 and result.summary["app"]["name"] == "fixture_quickstart"
    assert all(r["download_s"] == 0 and r["energy_download_j"] == 0 for r in result.devices)  # no downlink asked for
    assert result.summary["macs_per_example"] == 640.0
