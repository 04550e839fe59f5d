"""A sync/async (or any) comparison: accuracy vs simulated time and vs cumulative energy, every
run on the same axes.

Time is each run's own clock: ``sim_time_s`` of rounds.csv (the cumulative round latency of a
synchronous run, the event world's clock at each aggregation of an asynchronous one; the cumulative
sum of ``round_time_s`` when ``sim_time_s`` is absent). ``fedsim plot A B ...`` on several run
directories writes these two figures; a sweep that mixes ``federation.name`` values adds them to
its own figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from ._ledger_io import PathLike, RunData, load_run, sweep_label
from ._plot_common import ACCURACY_LABEL, ENERGY_LABEL, colours, draw_target, legend_labels, new_figure, save_figure, set_energy_scale
from ._plot_common import target_accuracy, use_log_energy

__all__ = ["ACCURACY_VS_TIME", "ACCURACY_VS_ENERGY", "Series", "comparison_series", "mixes_federations", "plot_comparison"]

ACCURACY_VS_TIME = "accuracy_vs_time.png"
ACCURACY_VS_ENERGY = "accuracy_vs_energy.png"
TIME_LABEL = "Simulated time [s]"


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
    are skipped), labelled by the config keys that differ between the runs."""
    labels = list(labels) if labels is not None else legend_labels(sweep_label(list(runs)))
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
    """Write ``accuracy_vs_time.png`` and ``accuracy_vs_energy.png`` into ``out_dir``: one curve
    per run on shared axes. Returns the written paths."""
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
            ax.legend(loc="lower right", fontsize=8.5, framealpha=0.9)
            written.append(save_figure(fig, out / name))
    return written
