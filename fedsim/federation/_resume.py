"""Starting a run's record, from scratch or after a checkpoint: the ledger (reopened and truncated
back to the checkpoint's byte lengths when resuming), the experiment tracker (continuing at the
next step) and the progress bar. The synchronous and the asynchronous server both start here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ledger import Column, Ledger
from ..tasks import Task
from ..tracking import open_tracker
from ._checkpoint import Checkpoint
from ._progress import ProgressBar, RoundLog


@dataclass
class RunRecord:
    ledger: Ledger
    tracker: Any  # an experiment tracker, or None
    bar: ProgressBar
    first_round: int  # the first round (aggregation) this attempt runs: 0, or the checkpoint's + 1
    earlier_wall_s: float  # computing seconds of the attempts before this one


def open_run_record(
    task: Task, output_dir: Path | None, resume_from: Checkpoint | None, *, progress: bool,
    round_columns: tuple[Column, ...], device_columns: tuple[Column, ...], round_log: bool = False,
) -> RunRecord:
    """``round_log``: one log line per round through Flower's logger (``flwr run``'s ServerApp,
    which has no terminal for a progress bar)."""
    cfg = task.config
    if resume_from is None:
        ledger = Ledger(output_dir, round_columns, device_columns)
        first_round, earlier_wall_s = 0, 0.0
    else:
        ledger = Ledger.reopen(output_dir, resume_from.ledger_bytes, round_columns, device_columns)
        first_round, earlier_wall_s = resume_from.round + 1, resume_from.wall_time_s
    tracker = open_tracker(cfg.to_dict(), output_dir, first_step=first_round)
    if tracker is not None:
        ledger.listeners.append(tracker.log_round)
    if round_log:
        ledger.listeners.append(RoundLog(cfg.rounds))
    bar = ProgressBar(cfg.rounds, enabled=progress, done=max(first_round - 1, 0))
    return RunRecord(ledger, tracker, bar, first_round, earlier_wall_s)
