"""``tracking=wandb``: a Weights & Biases run, offline (files under the run directory, to sync with
``wandb sync``) unless the user has logged in (``WANDB_API_KEY`` or ``wandb login``).

Every rounds.csv column is logged at step = round, with ``energy_cum_j`` and ``sim_time_s`` also
declared as x-axes (W&B's ``define_metric``); the resolved configuration is the run's config,
summary.json its summary; project ``tracking.experiment`` (default ``fedsim``), group = the sweep.
A resumed run continues the same W&B run id (``resume="allow"``) from the next step.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import Any

from ._base import Tracker, scalars


def _logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = os.path.expanduser("~/.netrc")
    return os.path.isfile(netrc) and "api.wandb.ai" in open(netrc).read()


class WandbTracker(Tracker):
    def start(self) -> None:
        import wandb

        saved = self.saved()
        run_id = saved.get("run_id") if self.first_step and saved.get("kind") == "wandb" else uuid.uuid4().hex[:12]
        self.run = wandb.init(
            project=self.tracking.get("experiment") or "fedsim", name=self.run_name, group=self.sweep, id=run_id, resume="allow",
            config={**dict(self.config), "params": self.params()}, mode="online" if _logged_in() else "offline",
            dir=None if self.output_dir is None else str(self.output_dir),
            settings=wandb.Settings(silent=True),  # the progress bar and fedsim's own lines stay readable
        )
        for axis in ("energy_cum_j", "sim_time_s"):
            self.run.define_metric(f"by_{axis}/*", step_metric=axis)
        self.save({"kind": "wandb", "run_id": run_id})

    def log_round(self, row: Mapping[str, Any]) -> None:
        values = scalars(row)
        values.pop("round", None)
        by_axis = {f"by_{axis}/test_accuracy": values.get("test_accuracy") for axis in ("energy_cum_j", "sim_time_s")}
        self.run.log({**values, **{k: v for k, v in by_axis.items() if v is not None}}, step=int(row["round"]))

    def finish(self, summary: Mapping[str, Any], failed: bool) -> None:
        self.run.summary.update(scalars(summary))
        for path in self.artifacts():
            self.run.save(str(path), base_path=str(path.parent), policy="now")
        self.run.finish(exit_code=1 if failed else 0)
        import wandb

        wandb.teardown()  # its service process would outlive the run in a long-lived Python session


TRACKER = WandbTracker
