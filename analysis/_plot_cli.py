"""``plot_path`` dispatch and the ``python -m analysis`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from ._comparison_plots import plot_comparison
from ._ledger_io import LedgerError, PathLike, find_runs, is_run_dir, load_run, run_metrics
from ._run_plots import plot_run
from ._seed_groups import seed_groups, seed_table
from ._sweep_plots import NO_RUN_MESSAGE, plot_sweep, sweep_rows
from ._table import summary_table

__all__ = ["plot_path", "plot_paths", "main", "RUN_SUMMARY_COLUMNS"]

RUN_SUMMARY_COLUMNS = [
    "final_accuracy",
    "total_energy_j",
    "rounds",
    "sim_time_s",
    "target_accuracy",
    "rounds_to_target",
    "energy_to_target_j",
]


def plot_path(path: PathLike, out_dir: PathLike | None = None) -> list[Path]:
    """Plot whatever ``path`` is: a run directory -> :func:`plot_run`; a
    directory with run directories below it -> :func:`plot_sweep`.

    Raises ``FileNotFoundError("no fedsim run under PATH: expected rounds.csv
    and summary.json")`` otherwise.
    """
    p = Path(path)
    if is_run_dir(p):
        return plot_run(p, out_dir)
    if find_runs(p):
        return plot_sweep(p, out_dir)
    raise FileNotFoundError(NO_RUN_MESSAGE.format(path=p))


def plot_paths(paths: Sequence[PathLike], out_dir: PathLike | None = None) -> list[Path]:
    """One path: :func:`plot_path`. Several: each must be a run directory (e.g. a sync and an
    async run); their accuracy vs simulated time and vs energy go on shared axes, written into
    ``out_dir`` (default: the runs' common parent directory)."""
    if len(paths) == 1:
        return plot_path(paths[0], out_dir)
    runs = [load_run(p) for p in paths]  # FileNotFoundError names a path that is not a run
    if out_dir is None:
        out_dir = Path(os.path.commonpath([str(Path(p).resolve()) for p in paths]))
    return plot_comparison(runs, out_dir)


def _describe(path: Path) -> str:
    if is_run_dir(path):
        row = run_metrics(load_run(path))
        return summary_table([row], RUN_SUMMARY_COLUMNS)
    runs = [load_run(p) for p in find_runs(path)]
    columns, rows = sweep_rows(runs, root=path)
    groups = seed_groups(runs)
    if groups is not None:  # seeds repeat: the per-group table of means and 95% intervals too
        return summary_table(rows, columns) + "\n\n" + seed_table(groups)
    return summary_table(rows, columns)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Plot a fedsim run directory or a sweep (multirun) directory.",
    )
    parser.add_argument("path", type=Path, nargs="+", help="run directory or sweep directory; several run directories: a comparison")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write figures (default: PATH)")
    parser.add_argument("--quiet", action="store_true", help="do not print the summary table")
    args = parser.parse_args(argv)
    try:
        written = plot_paths(args.path, args.out)
    except (FileNotFoundError, LedgerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the figures could not be written (a read-only folder, a full disk)
        print(f"error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if not args.quiet and len(args.path) == 1:
        print(_describe(args.path[0]))
        print()
    for p in written:
        print(f"wrote {p}")
    return 0
