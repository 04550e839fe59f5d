"""Figures and the summary table for a sweep (Hydra multirun) directory."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from ._ledger_io import (  # noqa: E402
    PathLike,
    RunData,
    find_runs,
    load_run,
    run_metrics,
    run_params,
    sweep_label,
    varying_keys,
)
from ._comparison_plots import mixes_federations, plot_comparison  # noqa: E402
from ._seed_groups import seed_groups  # noqa: E402
from ._plot_common import (  # noqa: E402
    ACCURACY_LABEL,
    ENERGY_LABEL,
    ROUNDS_LABEL,
    colours,
    curve,
    draw_target,
    legend_labels,
    new_figure,
    save_figure,
    set_energy_scale,
    shared_scenario,
    target_accuracy,
    use_log_energy,
    write_csv_atomic,
)

__all__ = [
    "plot_sweep",
    "sweep_rows",
    "SWEEP_METRIC_COLUMNS",
    "TRADEOFF",
    "SWEEP_ACCURACY_VS_ROUNDS",
    "SWEEP_SUMMARY",
    "NO_RUN_MESSAGE",
]

TRADEOFF = "tradeoff.png"
SWEEP_ACCURACY_VS_ROUNDS = "accuracy_vs_rounds.png"
SWEEP_SUMMARY = "sweep_summary.csv"
SWEEP_METRIC_COLUMNS = ["final_accuracy", "total_energy_j", "rounds_to_target", "energy_to_target_j"]
# above this many configurations the end points are not annotated
MAX_ANNOTATED = 12
NO_RUN_MESSAGE = "no fedsim run under {path}: expected rounds.csv and summary.json"


def _load_sweep(sweep_dir: Path) -> list[RunData]:
    paths = find_runs(sweep_dir)
    if not paths:
        raise FileNotFoundError(NO_RUN_MESSAGE.format(path=sweep_dir))
    return [load_run(p) for p in paths]


def _rel(path: Path, root: Path) -> str:
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        return str(path)
    return rel.as_posix() or "."


def sweep_rows(runs: Sequence[RunData], root: PathLike | None = None) -> tuple[list[str], list[dict]]:
    """``(columns, rows)`` describing each run: varying keys, headline metrics, path.

    ``path`` is relative to ``root`` when given.  Values are raw (numbers,
    ``None``); format them with :func:`summary_table` or the CSV writer.
    """
    keys = varying_keys(runs)
    columns = [*keys, *SWEEP_METRIC_COLUMNS, "path"]
    rows = []
    for run in runs:
        metrics = run_metrics(run)
        row: dict[str, Any] = dict(run_params(run, keys))
        row.update({c: metrics.get(c) for c in SWEEP_METRIC_COLUMNS})
        row["path"] = _rel(run.path, Path(root)) if root is not None else str(run.path)
        rows.append(row)
    return columns, rows


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated (less energy *and* higher accuracy), by energy."""
    front: list[tuple[float, float]] = []
    best = -math.inf
    for e, a in sorted(points, key=lambda p: (p[0], -p[1])):
        if a > best:
            front.append((e, a))
            best = a
    return front


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _draw_tradeoff(runs, labels, short_labels, cols, out_path: Path, target) -> Path:
    energies = [r.energy_cum for r in runs]
    metrics = [run_metrics(r) for r in runs]
    finals = [
        (float(m["total_energy_j"]), float(m["final_accuracy"]), i)
        for i, m in enumerate(metrics)
        if _finite(m["total_energy_j"]) and _finite(m["final_accuracy"])
    ]
    # each panel picks its own scale: curves span from the first round's
    # energy, the end points only across configurations
    log_c = use_log_energy(energies)
    log_p = use_log_energy([np.array([e for e, _, _ in finals])])
    n = len(runs)
    ncol = min(n, 4 if max((len(lab) for lab in labels), default=0) < 30 else 2)
    with new_figure(1, 2, figsize=(13, 5.6 + 0.25 * math.ceil(n / max(ncol, 1)))) as (fig, (ax_c, ax_p)):
        for run, energy, label, colour in zip(runs, energies, labels, cols):
            x, y = curve(run, energy, log_c)
            ax_c.plot(x, y, color=colour, linewidth=1.5, label=label)
        ax_c.set_title("Accuracy vs cumulative energy (one curve per configuration)", fontsize=10)
        ax_c.set_ylabel(ACCURACY_LABEL)

        front = _pareto([(e, a) for e, a, _ in finals if not log_p or e > 0])
        if len(front) > 1:
            fe, fa = zip(*front)
            ax_p.plot(fe, fa, color="0.6", linestyle=":", linewidth=1.2, zorder=1,
                      label="Pareto front")
        for k, (e, a, i) in enumerate(sorted(finals)):
            if log_p and e <= 0:
                continue
            ax_p.scatter([e], [a], color=cols[i], s=45, zorder=3, edgecolor="black", linewidth=0.5)
            if len(finals) > MAX_ANNOTATED:
                continue  # labels would pile up; colours match the legend
            dy = 7 if k % 2 == 0 else -13
            ax_p.annotate(textwrap.shorten(short_labels[i], 60, placeholder=" …"), (e, a), xytext=(6, dy), textcoords="offset points",
                          fontsize=7.5, color="0.15")
        ax_p.set_title("Final accuracy vs total energy (one point per configuration)", fontsize=10)
        ax_p.set_ylabel("Final test accuracy")
        ax_p.margins(x=0.18, y=0.12)

        handles, hlabels = ax_c.get_legend_handles_labels()
        for ax, log_x in ((ax_c, log_c), (ax_p, log_p)):
            set_energy_scale(ax, log_x)
            ax.set_xlabel(ENERGY_LABEL if ax is ax_c else "Total energy [J]")
            if log_x:
                ax.set_xlabel(ax.get_xlabel() + " (log scale)")
            ax.grid(True, which="major", alpha=0.3)
            draw_target(ax, target)
        if ax_p.get_legend_handles_labels()[0]:
            ax_p.legend(loc="lower right", fontsize=8, framealpha=0.9)

        fig.legend(handles, hlabels, loc="outside lower center", ncol=max(ncol, 1),
                   fontsize=8.5, frameon=False)
        fig.suptitle(_with_scenario("Energy-accuracy trade-off", runs), fontsize=12)
        return save_figure(fig, out_path)


def _with_scenario(title: str, runs: Sequence[RunData]) -> str:
    """``title``, naming the scenario when every run of the sweep shares one."""
    scenario = shared_scenario(runs)
    return f"{title}: {scenario}" if scenario else title


def _draw_rounds(runs, labels, cols, out_path: Path, target) -> Path:
    with new_figure(figsize=(10, 5)) as (fig, ax):
        for run, label, colour in zip(runs, labels, cols):
            x, y = curve(run, run.round_index, log_x=False)
            ax.plot(x, y, color=colour, linewidth=1.5, label=label)
        draw_target(ax, target)
        ax.set_xlabel(ROUNDS_LABEL)
        ax.set_ylabel(ACCURACY_LABEL)
        ax.set_title(_with_scenario("Test accuracy vs rounds, all runs", runs), fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper",
                   fontsize=8.5, frameon=False)
        return save_figure(fig, out_path)


PERPLEXITY_VS_ENERGY = "perplexity_vs_energy.png"


def has_perplexity(run: RunData) -> bool:
    values = run.rounds.get("test_perplexity")
    return values is not None and values.dtype.kind == "f" and bool(np.isfinite(values).any())


def draw_perplexity(runs: Sequence[RunData], labels: Sequence[str], cols: Sequence, out_path: Path) -> Path:
    """Test perplexity against cumulative energy, one curve per run (language-model tasks)."""
    energies = [run.energy_cum for run in runs]
    log_x = use_log_energy(energies)
    with new_figure(figsize=(7.5, 5)) as (fig, ax):
        for run, energy, label, colour in zip(runs, energies, labels, cols):
            if not has_perplexity(run):  # a classifier beside the language models: no curve
                continue
            ppl = run.rounds["test_perplexity"]
            keep = np.isfinite(ppl) & np.isfinite(energy) & ((energy > 0) if log_x else True)
            ax.plot(energy[keep], ppl[keep], "-o", ms=3, color=colour, label=label)
        set_energy_scale(ax, log_x)
        ax.set_xlabel(ENERGY_LABEL)
        ax.set_ylabel("Test perplexity")
        ax.set_title("Perplexity versus cumulative energy")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        return save_figure(fig, out_path)


def plot_sweep(sweep_dir: PathLike, out_dir: PathLike | None = None) -> list[Path]:
    """Write ``tradeoff.png``, ``accuracy_vs_rounds.png`` and ``sweep_summary.csv`` (and, when
    the runs mix ``federation.name`` values, ``accuracy_vs_time.png`` and ``accuracy_vs_energy.png``).

    Every run directory below ``sweep_dir`` is one configuration, labelled by
    the config keys that vary across runs.  ``out_dir`` defaults to
    ``sweep_dir``.  Raises ``FileNotFoundError`` when no run is found.

    When ``seed`` varies and some configuration was run with 2 or more seeds, the runs are grouped
    by the other varying keys: both figures then draw each group's mean over seeds with a shaded
    95% Student-t band (a group of one seed: a plain line), and ``seed_summary.csv`` (one row per
    group: n seeds, mean and 95% half-width per metric) is written after ``sweep_summary.csv``.
    """
    root = Path(sweep_dir)
    runs = _load_sweep(root)
    out = Path(out_dir) if out_dir is not None else root
    out.mkdir(parents=True, exist_ok=True)

    labels = legend_labels(sweep_label(runs))
    cols = colours(len(runs))
    target = target_accuracy(runs)

    groups = seed_groups(runs)
    if groups is not None:  # seeds repeat: one mean curve with a 95% band per group of seeds
        from ._seed_plots import SEED_SUMMARY, draw_seed_rounds, draw_seed_tradeoff, write_seed_summary  # uses this module

        written = [
            draw_seed_tradeoff(groups, out / TRADEOFF, target),
            draw_seed_rounds(groups, out / SWEEP_ACCURACY_VS_ROUNDS, target),
        ]
    else:
        written = [
            _draw_tradeoff(runs, labels, sweep_label(runs, short=True), cols, out / TRADEOFF, target),
            _draw_rounds(runs, labels, cols, out / SWEEP_ACCURACY_VS_ROUNDS, target),
        ]
    if any(has_perplexity(run) for run in runs):
        written.append(draw_perplexity(runs, labels, cols, out / PERPLEXITY_VS_ENERGY))
    if mixes_federations(runs):  # sync against async: their clocks differ, so time gets its own axis
        written += plot_comparison(runs, out)
    columns, rows = sweep_rows(runs, root=root)
    written.append(
        write_csv_atomic(
            out / SWEEP_SUMMARY,
            columns,
            ([_csv_cell(row.get(c)) for c in columns] for row in rows),
        )
    )
    if groups is not None:
        written.append(write_seed_summary(groups, out / SEED_SUMMARY))
    return written
