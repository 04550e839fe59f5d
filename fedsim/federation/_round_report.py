"""What a synchronous round hands its round-end callbacks (the ledger writer, the progress bar)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..control import RoundDecision
from ..ledger import DeviceRow
from ..world import RoundOutcome


@dataclass
class RoundReport:
    """What happened in one round: the decision, the physics, the device rows and the metrics.

    Round 0 (the initial model) has no decision and no outcome.
    """

    server_round: int
    sim_time_s: float
    decision: RoundDecision | None = None
    outcome: RoundOutcome | None = None
    device_rows: list[DeviceRow] = field(default_factory=list)
    device_metrics: list[dict[str, Any]] = field(default_factory=list)  # each reply's task metrics
    train_loss: float | None = None
    aggregation: dict[str, Any] = field(default_factory=dict)  # e.g. the factor-averaging error
    metrics: dict[str, float] = field(default_factory=dict)  # the server's evaluation

    @property
    def delivered(self) -> int:
        return sum(r.delivered for r in self.device_rows)


class RoundCallback(Protocol):
    """Called when a round is complete (after aggregation and the server's evaluation)."""

    def on_round_end(self, report: RoundReport) -> None: ...
