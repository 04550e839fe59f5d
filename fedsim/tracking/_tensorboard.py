"""``tracking=tensorboard``: event files in the run directory (``RUN_DIR/tensorboard``).

Every rounds.csv column is a scalar at step = round; summary.json's numbers and the run's
parameters go to TensorBoard's HParams view, so ``tensorboard --logdir SWEEP_DIR`` compares a
sweep's jobs. A resumed run opens its writer with ``purge_step`` = the first round it redoes, so
TensorBoard discards what the killed attempt wrote from there on: each step once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._base import Tracker, scalars

LOG_DIR = "tensorboard"


class TensorBoardTracker(Tracker):
    def start(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if self.output_dir is None:
            raise ValueError("tracking=tensorboard writes into the run directory; this run has none")
        self.writer = SummaryWriter(str(self.output_dir / LOG_DIR), purge_step=self.first_step or None)
        if not self.first_step:
            self.writer.add_text("config", "```\n" + "\n".join(f"{k}: {v}" for k, v in sorted(self.params().items())) + "\n```", 0)

    def log_round(self, row: Mapping[str, Any]) -> None:
        step = int(row["round"])
        for key, value in scalars(row).items():
            if key != "round":
                self.writer.add_scalar(f"rounds/{key}", value, step)
        self.writer.flush()

    def finish(self, summary: Mapping[str, Any], failed: bool) -> None:
        hparams = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in self.params().items() if v is not None}
        metrics = {f"summary/{k}": v for k, v in scalars(summary).items()}
        # Beside the run's own events (run_name "."), so the HParams table reads both.
        self.writer.add_hparams(hparams, metrics, run_name=".")
        self.writer.close()


TRACKER = TensorBoardTracker
