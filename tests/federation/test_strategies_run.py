"""``fedsim run strategy=NAME`` for every registered strategy, on both in-process engines, with
the wireless pricing and the quantized uplink; and what each client side changes."""

from __future__ import annotations

import numpy as np
import pytest

import fedsim
from fedsim.strategies import STRATEGY_NAMES, strategy_module

SYNCHRONOUS = [n for n in STRATEGY_NAMES if not strategy_module(n).ASYNCHRONOUS]
# Seven devices a round: Bulyan's 4f + 3 with f = 1. Local steps are few: this is about plumbing.
SMALL = {"rounds": 2, "world": {"num_devices": 8}, "op": {"devices_per_round": 7, "local_iters": 2, "uplink_bits": 4},
         "model": {"hidden": [8]}}


def _run(name: str, engine: str, **keys) -> fedsim.RunResult:
    return fedsim.run({**SMALL, "engine": engine, "strategy": {"name": name, **keys}})


@pytest.mark.parametrize("name", SYNCHRONOUS)
def test_every_synchronous_strategy_runs_priced_on_both_engines(name):
    runs = {engine: _run(name, engine) for engine in ("inprocess", "cohort")}
    for engine, result in runs.items():
        rows = result.devices
        assert len(result.rounds) == 3 and len(rows) == 14, engine
        assert all(r["payload_bits"] > 0 and r["energy_uplink_j"] > 0 and r["upload_s"] > 0 for r in rows), engine
        assert sum(r["delivered"] for r in rows) > 0 and np.isfinite(result.final_accuracy), engine
        assert result.summary["strategy"]["name"] == name
    # The engines agree on the physics (devices, times, energies, drops) whatever the strategy.
    keys = ("device", "payload_bits", "compute_s", "upload_s", "energy_uplink_j", "delivered", "drop_reason")
    assert [[r[k] for k in keys] for r in runs["inprocess"].devices] == [[r[k] for k in keys] for r in runs["cohort"].devices]
    assert runs["inprocess"].final_accuracy == pytest.approx(runs["cohort"].final_accuracy, abs=0.02)


def test_the_proximal_term_pulls_the_update_towards_the_global_model():
    # A larger mu shrinks every device's step: the models move less from round to round.
    def moved(mu: float) -> float:
        result = _run("fedprox", "inprocess", mu=mu)
        return float(np.mean([r["train_loss"] for r in result.devices if r["round"] == 2]))

    assert moved(10.0) > moved(0.0)  # held near the start, the data loss falls more slowly


def test_scaffold_prices_its_control_variates_both_ways():
    broadcast = {**SMALL, "radio": {"downlink_power_w": 1.0}}  # a modelled downlink
    plain = fedsim.run({**broadcast, "strategy": {"name": "fedavg"}})
    scaffold = fedsim.run({**broadcast, "strategy": {"name": "scaffold"}})
    # Twice the uplink payload (update and control delta at m bits), more downlink (c with the model).
    for a, b in zip(plain.devices, scaffold.devices):
        assert b["payload_bits"] == 2 * a["payload_bits"]
        assert b["download_s"] > a["download_s"]
