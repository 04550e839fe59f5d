"""Closing the loop: train at the bound-optimal operating point and at full precision.

Neither paper shows whether the point the convergence bound picks is also cheaper in
simulation. Here both are trained on the same devices, data and seed (same I and K, only the
precisions differ) until the accuracy target, and the measured energy to the target is put next
to the analytic prediction of the same World.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._run import run
from ..config import RunConfig
from ..controller import qfl_model
from ..errors import ConfigError, DataError


def merged(config: RunConfig, overrides: Mapping[str, Any]) -> dict:
    """The configuration's values with ``overrides`` merged in (nested), scenario notes dropped."""
    base = config.to_dict()
    base.pop("scenario", None)

    def merge(into: dict, extra: Mapping) -> None:
        for key, value in extra.items():
            if isinstance(value, Mapping) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(base, overrides)
    return base


def closed_loop(config: RunConfig, choice: Mapping[str, int], output_dir: Path, *, progress: bool = False) -> dict[str, Any]:
    """Train at ``choice`` (I, K, m, n) and at m = n = 32 with the same I and K."""
    overrides = config.scenario.get("closed_loop")
    if not overrides:
        return {"skipped": "the scenario has no closed_loop section"}
    points = {
        "bound_optimal": {"train_bits": choice["n"], "uplink_bits": choice["m"]},
        "full_precision": {"train_bits": 32, "uplink_bits": 32},
    }
    results: dict[str, Any] = {"point": dict(choice), "runs": {}}
    try:
        configs = {
            name: RunConfig.from_mapping(
                merged(config, {**overrides, "op": {"local_iters": choice["I"], "devices_per_round": choice["K"], **bits}})
            )
            for name, bits in points.items()
        }
        model = qfl_model(configs["full_precision"])
    except (ConfigError, DataError) as error:
        return {"skipped": f"cannot train here: {error}"}
    for name, cfg in configs.items():
        result = run(cfg, output_dir / name, progress=progress)
        op = cfg.op
        results["runs"][name] = {
            "op": {"I": op.local_iters, "K": op.devices_per_round, "m": op.uplink_bits, "n": op.train_bits},
            "final_accuracy": result.summary["final_accuracy"],
            "rounds_to_target": result.summary["rounds_to_target"],
            "energy_to_target_j": result.summary["energy_to_target_j"],
            "total_energy_j": result.summary["total_energy_j"],
            "energy_per_round_j": result.summary["total_energy_j"] / max(result.summary["rounds"], 1),
            "predicted_energy_per_round_j": float(
                model.energy_per_round(op.local_iters, op.devices_per_round, op.uplink_bits, op.train_bits)
            ),
            "predicted_energy_to_converge_j": float(
                model.total_energy(op.local_iters, op.devices_per_round, op.uplink_bits, op.train_bits)
            ),
        }
    runs = results["runs"]
    results["target_accuracy"] = configs["full_precision"].target_accuracy
    results["predicted_ratio"] = runs["bound_optimal"]["predicted_energy_to_converge_j"] / runs["full_precision"]["predicted_energy_to_converge_j"]
    measured = [runs[n]["energy_to_target_j"] for n in points]
    results["measured_ratio"] = measured[0] / measured[1] if None not in measured else None
    results["measured_round_energy_ratio"] = runs["bound_optimal"]["energy_per_round_j"] / runs["full_precision"]["energy_per_round_j"]
    results["reached_by_both"] = None not in measured and bool(np.isfinite(measured).all())
    return results
