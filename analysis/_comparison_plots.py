"""A sync/async (or any) comparison: accuracy vs simulated time and vs cumulative energy, every
run on the same axes.

Time is each run's own clock: ``sim_time_s`` of rounds.csv (the cumulative round latency of a
synchronous run, the event world's clock at each aggregation of an asynchronous one; the cumulative
sum of ``round_time_s`` when ``sim_time_s`` is absent). ``fedsim plot A B ...`` on several run
directories writes these two figures and ``comparison.csv``; a sweep that mixes
``federation.name`` values adds them to its own figures.

Each run is drawn under a short label, its directory's name (A, B, C, ... where those are long or
repeat), in a legend beside the axes; ``comparison.csv`` says what each label is: its directory
and its value of every config key that differs between the runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from ._ledger_io import PathLike, RunData, load_run, run_params, varying_keys
from ._plot_common import ACCURACY_LABEL, ENERGY_LABEL, colours, draw_target, new_figure, save_figure, set_energy_scale
from ._plot_common import target_accuracy, use_log_energy, write_csv_atomic

__all__ = ["ACCURACY_VS_TIME", "ACCURACY_VS_ENERGY", "COMPARISON_TABLE", "Series", "comparison_labels", "comparison_series",
           "comparison_table", "mixes_federations", "plot_comparison"]

ACCURACY_VS_TIME = "accuracy_vs_time.png"
ACCURACY_VS_ENERGY = "accuracy_vs_energy.png"
COMPARISON_TABLE = "comparison.csv"
TIME_LABEL = "Simulated time [s]"
MAX_NAME_LABEL = 16  # a directory name up to this long labels its run; longer ones get a letter


def comparison_labels(runs: Sequence[RunData]) -> list[str]:
    """A short label per run: its directory's name when every name is distinct and at most
    MAX_NAME_LABEL characters, else A, B, C, ... (then R27, R28, ...)."""
    names = [run.path.name for run in runs]
    if all(names) and len(set(names)) == len(names) and max(map(len, names)) <= MAX_NAME_LABEL:
        return names
    return [chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(len(runs))]


def comparison_table(runs: Sequence[RunData], labels: Sequence[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """(header, rows): per run its label, its directory and its value of each config key that
    differs between the runs."""
    labels = list(labels) if labels is not None else comparison_labels(runs)
    keys = varying_keys(list(runs))
    header = ["label", "run", *keys]
    rows = [[label, str(run.path), *run_params(run, keys).values()] for label, run in zip(labels, runs)]
    return header, rows


@dataclass(frozen=True)
class Series:
    """One run's evaluated rows: the points drawn on both figures."""

    label: str
    sim_time_s: np.ndarray
    energy_cum_j: np.ndarray
    accuracy: np.ndarray


def sim_time_s(run: RunData) -> np.ndarray:
    """The run's simulated clock per rounds.csv row [s] (all-nan when it has neither column)."""
    clock = run.column("sim_time_s")
    if clock is not None:
        return clock
    per_round = run.column("round_time_s")
    return np.cumsum(np.nan_to_num(per_round)) if per_round is not None else np.full(run.n_rows, np.nan)


def comparison_series(runs: Sequence[RunData], labels: Sequence[str] | None = None) -> list[Series]:
    """Per run, the rows with a finite accuracy, time and energy (rounds without a test evaluation
    are skipped), labelled by ``comparison_labels`` unless ``labels`` are given."""
    labels = list(labels) if labels is not None else comparison_labels(runs)
    out = []
    for run, label in zip(runs, labels):
        time_s, energy_j, accuracy = sim_time_s(run), run.energy_cum, run.accuracy
        keep = np.isfinite(time_s) & np.isfinite(energy_j) & np.isfinite(accuracy)
        out.append(Series(label, time_s[keep], energy_j[keep], accuracy[keep]))
    return out


def mixes_federations(runs: Sequence[RunData]) -> bool:
    """True when the runs use more than one ``federation.name`` (a sync/async comparison)."""
    names = {str((run.config.get("strategy") or run.config.get("federation") or {}).get("name", "fedavg")) for run in runs if run.config}
    return len(names) > 1


def plot_comparison(runs: Sequence[Union[RunData, PathLike]], out_dir: PathLike) -> list[Path]:
    """Write ``accuracy_vs_time.png`` and ``accuracy_vs_energy.png`` into ``out_dir``, one curve
    per run on shared axes under its short label, and ``comparison.csv``, what each label is
    (``comparison_table``). Returns the written paths."""
    data = [run if isinstance(run, RunData) else load_run(run) for run in runs]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    series = comparison_series(data)
    cols, target = colours(len(series)), target_accuracy(data)
    log_energy = use_log_energy([s.energy_cum_j for s in series])
    written = []
    for name, attribute, xlabel, title in (
        (ACCURACY_VS_TIME, "sim_time_s", TIME_LABEL, "Test accuracy vs simulated time"),
        (ACCURACY_VS_ENERGY, "energy_cum_j", ENERGY_LABEL, "Test accuracy vs cumulative energy"),
    ):
        log_x = attribute == "energy_cum_j" and log_energy
        with new_figure(figsize=(8, 5)) as (fig, ax):
            for s, colour in zip(series, cols):
                x, y = getattr(s, attribute), s.accuracy
                if log_x:
                    x, y = x[x > 0], y[x > 0]
                ax.plot(x, y, marker="o" if x.size <= 40 else None, markersize=3, linewidth=1.5, color=colour, label=s.label)
            if log_x:
                set_energy_scale(ax, True)
            draw_target(ax, target)
            ax.set_xlabel(xlabel + (" (log scale)" if log_x else ""))
            ax.set_ylabel(ACCURACY_LABEL)
            ax.set_title(title, fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
            # Beside the axes, never over the curves (constrained layout makes room for it).
            fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize=8.5, frameon=False)
            written.append(save_figure(fig, out / name))
    header, rows = comparison_table(data, [s.label for s in series])
    written.append(write_csv_atomic(out / COMPARISON_TABLE, header, rows))
    return written
