"""The round-end callback that writes the ledger (rounds.csv and devices.csv, every round)."""

from __future__ import annotations

from ..ledger import Ledger, RoundRow
from ._task import Task
from .strategy import RoundReport


class LedgerWriter:
    def __init__(self, ledger: Ledger, task: Task) -> None:
        self.ledger = ledger
        self.task = task

    def on_round_end(self, report: RoundReport) -> None:
        outcome = report.outcome
        rows = report.device_rows
        # Round 0 (the initial model) has no physics: every energy and time is zero.
        phases = ("compute", "uplink", "download", "propulsion")
        energy = {p: float(getattr(outcome, f"energy_{p}_j").sum()) if outcome else 0.0 for p in phases}
        row = RoundRow(
            round=report.server_round,
            sim_time_s=report.sim_time_s,
            round_time_s=outcome.duration_s if outcome else 0.0,
            energy_compute_j=energy["compute"],
            energy_uplink_j=energy["uplink"],
            energy_download_j=energy["download"],
            energy_round_j=outcome.energy_j if outcome else 0.0,
            energy_cum_j=0.0,  # the ledger keeps the running sum
            energy_propulsion_j=energy["propulsion"],
            test_accuracy=report.metrics["accuracy"],
            test_loss=report.metrics["loss"],
            selected=len(rows),
            delivered=report.delivered,
            uplink_bits=sum(r.payload_bits for r in rows if r.delivered),
            train_loss=report.train_loss,
        )
        self.ledger.record_round(
            row,
            rows,
            extras=self.task.round_extras(report.metrics, report.aggregation if report.server_round else None),
            device_extras=[self.task.device_extras(m) for m in report.device_metrics],
        )
