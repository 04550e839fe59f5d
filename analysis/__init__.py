"""Post-hoc analysis of fedsim outputs: read run/sweep directories, plot, tabulate.

Reads files only (``rounds.csv``, ``summary.json``, ``config.yaml``); it never
imports torch, flwr or ``fedsim``.  Figures are rendered with matplotlib's Agg
backend and written atomically.

    from analysis import plot_path
    plot_path("outputs/2024-05-01/12-00-00")   # a run -> 2 PNGs, a sweep -> 2 PNGs + CSV
"""

from ._ledger_io import (
    LedgerError,
    RunData,
    find_runs,
    flatten_config,
    is_run_dir,
    load_run,
    run_metrics,
    sweep_label,
    varying_keys,
)
from ._urllc_plots import plot_condition_samples, plot_operating_points, plot_urllc_timeline
from ._handover_plots import plot_cdfs, plot_handovers_vs_weight, plot_serving_map
from ._optimizer_plots import plot_epsilon_sweep, plot_line_search, plot_pareto
from ._comparison_plots import comparison_series, plot_comparison
from ._plot_cli import RUN_SUMMARY_COLUMNS, main, plot_path, plot_paths
from ._run_plots import plot_run
from ._sweep_plots import SWEEP_METRIC_COLUMNS, plot_sweep, sweep_rows
from ._swarm_plots import plot_gap_with_bound, plot_rounds_vs_sweep, plot_swarm_snapshot
from ._table import summary_table
from ._seed_groups import Band, Interval, SeedGroup, band_vs_energy, band_vs_rounds, seed_groups, seed_table, t_interval

__all__ = [
    "plot_condition_samples",
    "plot_operating_points",
    "plot_urllc_timeline",
    "plot_cdfs",
    "plot_handovers_vs_weight",
    "plot_serving_map",
    "plot_gap_with_bound",
    "plot_rounds_vs_sweep",
    "plot_swarm_snapshot",
    "plot_epsilon_sweep",
    "plot_line_search",
    "plot_pareto",
    "LedgerError",
    "RunData",
    "load_run",
    "find_runs",
    "is_run_dir",
    "flatten_config",
    "varying_keys",
    "sweep_label",
    "run_metrics",
    "plot_run",
    "plot_sweep",
    "plot_path",
    "plot_paths",
    "plot_comparison",
    "comparison_series",
    "sweep_rows",
    "summary_table",
    "SeedGroup",
    "Band",
    "Interval",
    "seed_groups",
    "band_vs_rounds",
    "band_vs_energy",
    "t_interval",
    "seed_table",
    "main",
    "RUN_SUMMARY_COLUMNS",
    "SWEEP_METRIC_COLUMNS",
]
