"""Post-hoc analysis of fedsim outputs: read run/sweep directories, plot, tabulate.

Reads files only (``rounds.csv``, ``summary.json``, ``config.yaml``); it never
imports torch, flwr or ``fedsim``.  Figures are rendered with matplotlib's Agg
backend and written atomically.

    from analysis import plot_path
    plot_path("outputs/2024-05-01/12-00-00")   # a run -> 2 PNGs, a sweep -> 2 PNGs + CSV
"""

import importlib

# Public name -> the submodule that defines it, imported on first use (PEP 562): `fedsim run`
# prints its summary table without importing matplotlib and every plot module.
_EXPORTS = {
    **dict.fromkeys(["LedgerError", "RunData", "find_runs", "flatten_config", "is_run_dir", "load_run", "run_metrics", "sweep_label", "varying_keys"], "._ledger_io"),
    **dict.fromkeys(["plot_condition_samples", "plot_operating_points", "plot_urllc_timeline"], "._urllc_plots"),
    **dict.fromkeys(["plot_cdfs", "plot_drone_links", "plot_handovers_vs_weight", "plot_serving_map", "read_drone_links"], "._handover_plots"),
    **dict.fromkeys(["plot_epsilon_sweep", "plot_line_search", "plot_pareto"], "._optimizer_plots"),
    **dict.fromkeys(["comparison_labels", "comparison_series", "comparison_table", "plot_comparison"], "._comparison_plots"),
    **dict.fromkeys(["RUN_SUMMARY_COLUMNS", "main", "plot_path", "plot_paths"], "._plot_cli"),
    **dict.fromkeys(["plot_run"], "._run_plots"),
    **dict.fromkeys(["SWEEP_METRIC_COLUMNS", "plot_sweep", "sweep_rows"], "._sweep_plots"),
    **dict.fromkeys(["plot_gap_with_bound", "plot_rounds_vs_sweep", "plot_swarm_snapshot"], "._swarm_plots"),
    **dict.fromkeys(["summary_table"], "._table"),
    **dict.fromkeys(["Band", "Interval", "SeedGroup", "band_vs_energy", "band_vs_rounds", "seed_groups", "seed_table", "t_interval"], "._seed_groups"),
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # cache: the next lookup does not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "plot_condition_samples",
    "plot_operating_points",
    "plot_urllc_timeline",
    "plot_cdfs",
    "plot_handovers_vs_weight",
    "plot_serving_map",
    "plot_drone_links",
    "read_drone_links",
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
    "comparison_labels",
    "comparison_table",
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
