"""The round-end callback that writes the ledger (rounds.csv and devices.csv, every round)."""

from __future__ import annotations

from collections.abc import Callable

from ..ledger import Ledger
from ..tasks import Task
from ..world import RoundOutcome
from ._round_report import RoundReport
from ._rows import outcome_energy, round_row


class LedgerWriter:
    def __init__(self, ledger: Ledger, task: Task, world_extras: Callable[[RoundOutcome], list[dict]] | None = None) -> None:
        """``world_extras``: the world's own device columns of a round (cellular drones'), one dict
        per device row, merged with the task's."""
        self.ledger = ledger
        self.task = task
        self.world_extras = world_extras

    def on_round_end(self, report: RoundReport) -> None:
        outcome = report.outcome
        # Round 0 (the initial model) has no physics: every energy and time is zero.
        row = round_row(
            report.server_round, sim_time_s=report.sim_time_s, round_time_s=outcome.duration_s if outcome else 0.0,
            energy_j=outcome_energy(outcome), energy_round_j=outcome.energy_j if outcome else 0.0, metrics=report.metrics,
            rows=report.device_rows, train_loss=report.train_loss,
        )
        self.ledger.record_round(
            row,
            report.device_rows,
            extras=self.task.round_extras(report.metrics, report.aggregation if report.server_round else None),
            device_extras=self._device_extras(report),
        )

    def _device_extras(self, report: RoundReport) -> list[dict]:
        extras = [self.task.device_extras(m) for m in report.device_metrics]
        if self.world_extras is None or report.outcome is None:
            return extras
        return [{**task, **world} for task, world in zip(extras, self.world_extras(report.outcome), strict=True)]
