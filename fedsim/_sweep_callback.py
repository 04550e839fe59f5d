"""Hydra callback: one summary table over all jobs when a sweep (``fedsim run -m``) ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from analysis import find_runs, load_run, summary_table, sweep_rows

        sweep_dir = Path(config.hydra.sweep.dir)
        runs = [load_run(path) for path in find_runs(sweep_dir)]
        if not runs:
            return
        columns, rows = sweep_rows(runs, root=sweep_dir)
        print(f"\nsweep: {len(runs)} finished runs in {sweep_dir}")
        print(summary_table(rows, columns))
        print(f"plot it: fedsim plot {sweep_dir}")
