"""The ledger: the single record of a run, per round and per device.

Written after every round (atomically), so an interrupted run leaves a consistent record of the
rounds it completed; ``summary.json`` is written last and only exists for a finished run.
Floats are written with ``repr`` (shortest round-trip form), so the same seed gives
byte-identical CSV files.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_text

ROUND_COLUMNS = (
    "round",
    "sim_time_s",
    "round_time_s",
    "energy_compute_j",
    "energy_uplink_j",
    "energy_download_j",
    "energy_round_j",
    "energy_cum_j",
    "energy_propulsion_j",
    "test_accuracy",
    "test_loss",
    "selected",
    "delivered",
    "uplink_bits",
    "train_loss",
    "test_perplexity",
    "aggregation_error",
)

DEVICE_COLUMNS = (
    "round",
    "device",
    "train_bits",
    "uplink_bits",
    "payload_bits",
    "local_iters",
    "num_examples",
    "download_s",
    "compute_s",
    "upload_s",
    "finish_s",
    "energy_compute_j",
    "energy_uplink_j",
    "energy_download_j",
    "energy_propulsion_j",
    "channel_gain",
    "distance_m",
    "delivered",
    "drop_reason",
    "battery_j",
    "x_m",
    "y_m",
    "z_m",
    "train_loss",
    "memory_bytes",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if hasattr(value, "item"):  # numpy scalar
        return _cell(value.item())
    return str(value)


def _csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    out.write(",".join(columns) + "\n")
    for row in rows:
        out.write(",".join(_cell(row.get(c)) for c in columns) + "\n")
    return out.getvalue()


@dataclass
class Ledger:
    """Collects round and device rows and writes ``rounds.csv``, ``devices.csv``, ``summary.json``."""

    output_dir: Path | None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)

    def record_round(self, round_row: Mapping[str, Any], device_rows: Sequence[Mapping[str, Any]]) -> None:
        row = dict(round_row)
        previous = self.rounds[-1]["energy_cum_j"] if self.rounds else 0.0
        row["energy_cum_j"] = previous + row["energy_round_j"]
        self.rounds.append(row)
        self.devices.extend(dict(r) for r in device_rows)
        self.flush()

    def flush(self) -> None:
        if self.output_dir is None:
            return
        atomic_write_text(self.output_dir / "rounds.csv", _csv(ROUND_COLUMNS, self.rounds))
        atomic_write_text(self.output_dir / "devices.csv", _csv(DEVICE_COLUMNS, self.devices))

    def summary(self, target_accuracy: float, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Headline numbers of the run: final accuracy, energy, and cost to reach the target."""
        last = self.rounds[-1] if self.rounds else {}
        reached = next((r for r in self.rounds if r["test_accuracy"] >= target_accuracy), None)
        summary = {
            "final_accuracy": last.get("test_accuracy"),
            "final_loss": last.get("test_loss"),
            "best_accuracy": max((r["test_accuracy"] for r in self.rounds), default=None),
            "total_energy_j": last.get("energy_cum_j", 0.0),
            "energy_compute_j": sum(r["energy_compute_j"] for r in self.rounds),
            "energy_uplink_j": sum(r["energy_uplink_j"] for r in self.rounds),
            "energy_download_j": sum(r["energy_download_j"] for r in self.rounds),
            "energy_propulsion_j": sum(r["energy_propulsion_j"] for r in self.rounds),
            "rounds": max((r["round"] for r in self.rounds), default=0),
            "sim_time_s": last.get("sim_time_s", 0.0),
            "target_accuracy": target_accuracy,
            "rounds_to_target": None if reached is None else reached["round"],
            "energy_to_target_j": None if reached is None else reached["energy_cum_j"],
            "uplink_bits_total": sum(r["uplink_bits"] for r in self.rounds),
        }
        summary.update(extra or {})
        return summary

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        if self.output_dir is not None:
            atomic_write_text(self.output_dir / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
