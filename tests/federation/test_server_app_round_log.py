"""Under `flwr run` the ServerApp has no terminal for a progress bar: it logs one line per round
(round, accuracy, energy, simulated time, drops) through Flower's logger, which writes to the
ServerApp process's stdout, what `flwr run --stream` shows."""

from __future__ import annotations

import csv
import logging
import re

from flwr.app import Context, RecordDict

import fedsim
from fedsim.engine import InProcessGrid
from fedsim.federation import config_to_run_config
from fedsim.federation.client_app import app as client_app
from fedsim.federation.server_app import main as server_main

LINE = re.compile(r"^fedsim round (\d+)/(\d+): accuracy (\S+), energy (\S+) J \(total (\S+) J\), simulated (\S+) s, drops (\d+) of (\d+)$")


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _server_app_run(overrides, out):
    config = fedsim.compose(overrides)
    run_config = {**config_to_run_config(config), "output-dir": str(out)}
    grid = InProcessGrid(client_app, config.world.num_devices, run_config, seed=config.seed)
    context = Context(run_id=grid.run.run_id, node_id=0, node_config={}, state=RecordDict(), run_config=run_config)
    flower = logging.getLogger("flwr")
    handler = _Lines()
    flower.addHandler(handler)  # where Flower's console handler sits: the lines reach it
    try:
        server_main(grid, context)
    finally:
        flower.removeHandler(handler)
    return handler.lines


def _ledger_rounds(out):
    with open(out / "rounds.csv") as handle:
        return list(csv.DictReader(handle))


def test_the_server_app_logs_a_line_per_round_with_the_ledgers_numbers(tmp_path):
    out = tmp_path / "run"
    # A deadline that some uploads miss: the drops in the line are the ledger's.
    lines = _server_app_run(["rounds=3", "world.num_devices=6", "op.devices_per_round=3", "model.hidden=[16]",
                             "access=tdma", "world.deadline_s=0.0004"], out)
    rounds = _ledger_rounds(out)
    parsed = [LINE.match(line) for line in lines if line.startswith("fedsim round ")]
    assert len(parsed) == len(rounds) == 4 and all(parsed), lines  # round 0 (the initial model) and 3 rounds
    for match, row in zip(parsed, rounds):
        r, total, accuracy, energy, cumulative, simulated, drops, selected = match.groups()
        assert (int(r), int(total)) == (int(row["round"]), 3)
        assert accuracy == f"{float(row['test_accuracy']):.4f}"
        assert float(energy) == float(f"{float(row['energy_round_j']):.4g}")
        assert float(cumulative) == float(f"{float(row['energy_cum_j']):.4g}")
        assert float(simulated) == float(f"{float(row['sim_time_s']):.4g}")
        assert (int(drops), int(selected)) == (int(row["selected"]) - int(row["delivered"]), int(row["selected"]))
    assert sum(int(m.group(7)) for m in parsed) > 0  # the deadline dropped some uploads


def test_the_in_process_run_keeps_its_progress_bar_and_logs_no_round_lines(tmp_path):
    flower = logging.getLogger("flwr")
    handler = _Lines()
    flower.addHandler(handler)
    try:
        fedsim.run({"rounds": 2, "world": {"num_devices": 4}, "op": {"devices_per_round": 2}, "model": {"hidden": [8]}}, tmp_path)
    finally:
        flower.removeHandler(handler)
    assert not [line for line in handler.lines if line.startswith("fedsim round ")]
