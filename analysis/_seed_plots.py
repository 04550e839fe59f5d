"""Figures of a sweep with seed repeats: per group of seeds the mean curve and a shaded 95%
confidence band (Student t) instead of one line per seed; a group of one seed is a plain line."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ._ledger_io import RunData, run_metrics  # noqa: E402
from ._plot_common import (  # noqa: E402
    ACCURACY_LABEL,
    ENERGY_LABEL,
    ROUNDS_LABEL,
    colours,
    draw_target,
    new_figure,
    save_figure,
    set_energy_scale,
    use_log_energy,
    write_csv_atomic,
)
from ._seed_groups import (  # noqa: E402
    Band,
    SeedGroup,
    band_vs_energy,
    band_vs_rounds,
    seed_csv,
    seed_points,
    t_interval,
)
from ._sweep_plots import MAX_ANNOTATED, _csv_cell, _pareto  # noqa: E402

__all__ = ["SEED_SUMMARY", "draw_seed_rounds", "draw_seed_tradeoff", "write_seed_summary"]

SEED_SUMMARY = "seed_summary.csv"
BAND_ALPHA = 0.22
# test accuracy is a fraction: a band (or error bar) of few seeds can reach past 0 or 1 (n = 2
# gives t = 12.7), and is drawn clipped to [0, 1]; the numbers (Band, seed_summary.csv) are not
ACCURACY_RANGE = (0.0, 1.0)
BAND_NOTE = "shaded: 95% CI of the mean over seeds (Student t)"
TAIL_NOTE = "dashed: seeds past the shortest run (no band there)"
# longer group labels are not written beside the points of the trade-off panel (they pile up)
MAX_ANNOTATION = 24


def _draw_group(ax, group: SeedGroup, band: Band, colour, x_of: Callable[[RunData], np.ndarray], log_x: bool,
                alpha: float = BAND_ALPHA):
    """The mean and its band (n >= 2) or the run's own line (n = 1); where the seeds ran different
    numbers of rounds, the longer seeds' remainder past the band's end as thin dashed lines.
    Returns the legend handle."""
    if group.n == 1 or band.x.size == 0:
        handle = None
        for run in group.runs:  # one seed, or seeds that share no x: each on its own
            x, y = seed_points(run, x_of(run), log_x)
            (line,) = ax.plot(x, y, color=colour, linewidth=1.5, linestyle="-" if group.n == 1 else "--")
            handle = handle or line
        return handle
    patch = ax.fill_between(band.x, np.clip(band.lower, *ACCURACY_RANGE), np.clip(band.upper, *ACCURACY_RANGE),
                            color=colour, alpha=alpha, linewidth=0)
    (line,) = ax.plot(band.x, band.mean, color=colour, linewidth=1.8)
    if group.rounds_differ:
        for run in group.runs:
            x, y = seed_points(run, x_of(run), log_x)
            tail = x >= band.x_end
            if np.count_nonzero(tail) >= 2:
                ax.plot(x[tail], y[tail], color=colour, linewidth=0.9, linestyle="--", alpha=0.8)
    return (patch, line)


def _legend(fig, groups: Sequence[SeedGroup], handles: list, width_in: float) -> int:
    """One entry per group and the notes, below the axes (never over the curves); returns the
    number of legend rows (the caller sized the figure for them)."""
    labels = [g.legend_label() for g in groups]
    if any(g.n >= 2 for g in groups):
        handles = [*handles, Patch(facecolor="0.45", alpha=BAND_ALPHA + 0.1, linewidth=0)]
        labels.append(BAND_NOTE)
    if any(g.n >= 2 and g.rounds_differ for g in groups):
        handles = [*handles, Line2D([], [], color="0.35", linewidth=0.9, linestyle="--")]
        labels.append(TAIL_NOTE)
    ncol = _ncol(labels, width_in)
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=8.5, frameon=False)
    return math.ceil(len(labels) / ncol)


def _alpha(groups: Sequence[SeedGroup]) -> float:
    """Lighter bands when many overlap."""
    return BAND_ALPHA if sum(g.n >= 2 for g in groups) <= 4 else 0.12


def _ncol(labels: Sequence[str], width_in: float) -> int:
    # about 13 characters of 8.5 pt text per inch, plus the handle
    longest = max((len(lab) for lab in labels), default=1)
    return max(1, min(len(labels), int(width_in * 13 // (longest + 8))))


def _height(groups: Sequence[SeedGroup], base: float, width_in: float) -> float:
    n_entries = len(groups) + 2
    labels = [g.legend_label() for g in groups] + [BAND_NOTE, TAIL_NOTE]
    return base + 0.22 * math.ceil(n_entries / _ncol(labels, width_in))


def draw_seed_rounds(groups: Sequence[SeedGroup], out_path: Path, target) -> Path:
    """Test accuracy vs rounds: per group the mean over seeds and its 95% band."""
    width = 10.0
    cols = colours(len(groups))
    with new_figure(figsize=(width, _height(groups, 5.0, width))) as (fig, ax):
        handles = [
            _draw_group(ax, group, band_vs_rounds(group.runs), colour, lambda run: run.round_index, False, _alpha(groups))
            for group, colour in zip(groups, cols)
        ]
        draw_target(ax, target)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(ROUNDS_LABEL)
        ax.set_ylabel(ACCURACY_LABEL)
        ax.set_title("Test accuracy vs rounds: mean over seeds, shaded 95% CI", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        if target is not None:
            ax.legend(loc="lower right", fontsize=8, framealpha=0.9)  # the target line only
        _legend(fig, groups, handles, width)
        return save_figure(fig, out_path)


def draw_seed_tradeoff(groups: Sequence[SeedGroup], out_path: Path, target) -> Path:
    """Left: accuracy vs cumulative energy, mean and 95% band per group (on the energy range every
    seed of the group covers).  Right: mean final accuracy vs mean total energy per group, with
    95% CI error bars in both directions, and the Pareto front of the means."""
    width = 13.0
    cols = colours(len(groups))
    log_c = use_log_energy([run.energy_cum for g in groups for run in g.runs])
    finals = []
    for i, group in enumerate(groups):
        metrics = [run_metrics(run) for run in group.runs]
        energy = t_interval(m["total_energy_j"] for m in metrics)
        accuracy = t_interval(m["final_accuracy"] for m in metrics)
        if energy.mean is not None and accuracy.mean is not None:
            finals.append((energy, accuracy, i))
    log_p = use_log_energy([np.array([e.mean for e, _, _ in finals])])
    with new_figure(1, 2, figsize=(width, _height(groups, 5.6, width))) as (fig, (ax_c, ax_p)):
        handles = [
            _draw_group(ax_c, group, band_vs_energy(group.runs, log_c), colour, lambda run: run.energy_cum, log_c,
                        _alpha(groups))
            for group, colour in zip(groups, cols)
        ]
        ax_c.set_title("Accuracy vs cumulative energy: mean over seeds, shaded 95% CI\n"
                       "(each group on the energy range all its seeds cover)", fontsize=10)
        ax_c.set_ylabel(ACCURACY_LABEL)

        shown = [(e, a, i) for e, a, i in finals if not log_p or e.mean > 0]
        front = _pareto([(e.mean, a.mean) for e, a, _ in shown])
        if len(front) > 1:
            fe, fa = zip(*front)
            ax_p.plot(fe, fa, color="0.6", linestyle=":", linewidth=1.2, zorder=1, label="Pareto front of the means")
        span = _span([e.mean for e, _, _ in shown], log_p)
        annotate = len(shown) <= MAX_ANNOTATED and max((len(g.label) for g in groups), default=0) <= MAX_ANNOTATION
        for k, (e, a, i) in enumerate(sorted(shown, key=lambda t: t[0].mean)):
            yerr = None
            if a.half_width is not None:
                low, high = np.clip([a.mean - a.half_width, a.mean + a.half_width], *ACCURACY_RANGE)
                yerr = [[a.mean - low], [high - a.mean]]
            ax_p.errorbar([e.mean], [a.mean], xerr=None if e.half_width is None else [e.half_width],
                          yerr=yerr, fmt="o", color=cols[i],
                          markersize=6, markeredgecolor="black", markeredgewidth=0.5, capsize=3,
                          elinewidth=1.1, zorder=3)
            if not annotate or not groups[i].label:
                continue  # labels would pile up (or say nothing); colours match the legend
            right_half = span(e.mean) > 0.6  # label to the left there, so it stays inside the axes
            ax_p.annotate(groups[i].label, (e.mean, a.mean), xytext=(-7 if right_half else 7, 7 if k % 2 == 0 else -13),
                          textcoords="offset points", fontsize=7.5, color="0.15",
                          ha="right" if right_half else "left")
        ax_p.set_title("Final accuracy vs total energy: mean ± 95% CI over seeds", fontsize=10)
        ax_p.set_ylabel("Final test accuracy")
        ax_p.margins(x=0.18, y=0.12)

        for ax, log_x in ((ax_c, log_c), (ax_p, log_p)):
            set_energy_scale(ax, log_x)
            ax.set_xlabel((ENERGY_LABEL if ax is ax_c else "Total energy [J]") + (" (log scale)" if log_x else ""))
            ax.grid(True, which="major", alpha=0.3)
            draw_target(ax, target)
        for ax in (ax_c, ax_p):
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
        _legend(fig, groups, handles, width)
        fig.suptitle("Energy-accuracy trade-off over seeds", fontsize=12)
        return save_figure(fig, out_path)


def _span(values: Sequence[float], log_x: bool) -> Callable[[float], float]:
    """Where a value lies between the smallest and the largest of ``values`` (0 to 1)."""
    scaled = np.log10(values) if log_x and len(values) else np.asarray(values, dtype=float)
    lo, hi = (float(scaled.min()), float(scaled.max())) if scaled.size else (0.0, 0.0)

    def position(value: float) -> float:
        v = math.log10(value) if log_x else value
        return (v - lo) / (hi - lo) if hi > lo else 0.0

    return position


def write_seed_summary(groups: Sequence[SeedGroup], out_path: Path) -> Path:
    """``seed_summary.csv``: one row per group, n seeds and mean / 95% half-width per metric."""
    header, rows = seed_csv(groups)
    return write_csv_atomic(out_path, header, ([_csv_cell(v) for v in row] for row in rows))
