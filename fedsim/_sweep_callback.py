"""Hydra callback for sweeps (``fedsim run -m``): job progress, and one summary table at the end.

Under a parallel launcher (``hydra/launcher=joblib``, submitit, Ray) each job runs in a worker
process with its own copy of this callback, so the progress also counts the finished runs found
in the sweep directory, which every launcher shares.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def sweep_size(overrides: list[str]) -> int | None:
    """Number of jobs of a basic sweep: the product of the sweep overrides' lengths."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        return math.prod(len(list(o.sweep_string_iterator())) for o in parsed if o.is_sweep_override())
    except HydraException:  # e.g. an interval sweep has no count: progress without a total
        return None


class SweepSummary(Callback):
    def __init__(self) -> None:
        self.in_sweep = False  # Hydra calls on_job_end for single runs too
        self.total: int | None = None
        self.done = 0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.in_sweep = True
        self.total = sweep_size(config.hydra.overrides.task)
        self.done = 0

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if not self.in_sweep:
            return
        from analysis import find_runs

        self.done = max(self.done + 1, len(find_runs(config.hydra.sweep.dir)))
        total = f"/{self.total}" if self.total else ""
        print(f"sweep: {self.done}{total} jobs done", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from analysis import find_runs, load_run, seed_groups, seed_table, summary_table, sweep_rows

        sweep_dir = Path(config.hydra.sweep.dir)
        runs = [load_run(path) for path in find_runs(sweep_dir)]
        if not runs:
            return
        columns, rows = sweep_rows(runs, root=sweep_dir)
        print(f"\nsweep: {len(runs)} finished runs in {sweep_dir}")
        print(summary_table(rows, columns))
        groups = seed_groups(runs)
        if groups is not None:  # seeds repeated: mean ± 95% interval per configuration
            print(f"\nover seeds (mean ± 95% interval):\n{seed_table(groups)}")
        print(f"plot it: fedsim plot {sweep_dir}")
