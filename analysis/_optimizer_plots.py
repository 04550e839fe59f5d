"""Figures of operating-point studies: Pareto fronts, epsilon sweeps, precision line searches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._plot_common import colours, new_figure, save_figure  # sets the Agg backend first
from matplotlib.patches import Rectangle  # noqa: E402

CHOICE_STYLE = {
    "nbs": ("Nash bargaining", "*", 16),
    "sum": ("SUM (min E + T)", "D", 9),
    "e_min": ("E_min anchor", "v", 10),
    "t_min": ("T_min anchor", "^", 10),
}


def _label(row: Mapping) -> str:
    return f"I={row['I']} K={row['K']} m={row['m']} n={row['n']}"


def plot_pareto(
    front: np.ndarray,
    choices: Mapping[str, Mapping],
    path: Path,
    *,
    exhaustive: np.ndarray | None = None,
    reference_box: Sequence[float] | None = None,
    title: str = "Energy-rounds Pareto boundary",
) -> Path:
    """Front (energy_j, rounds) as a line, the exhaustive integer front as dots, chosen points."""
    front = np.asarray(front, dtype=float)
    with new_figure(figsize=(7.5, 5.2)) as (fig, ax):
        if exhaustive is not None and len(exhaustive):
            ex = np.asarray(exhaustive, dtype=float)
            ax.scatter(ex[:, 0], ex[:, 1], s=8, color="0.7", label="exhaustive integer search (front)", zorder=1)
        order = np.argsort(front[:, 0])
        ax.plot(front[order, 0], front[order, 1], "-o", ms=3, color="tab:blue", label="NBI front (integer)", zorder=2)
        for (name, row), colour in zip(choices.items(), colours(len(choices))):
            label, marker, size = CHOICE_STYLE.get(name, (name, "o", 9))
            ax.plot(row["energy_j"], row["rounds"], marker, ms=size, color=colour, mec="k", zorder=3,
                    label=f"{label}: {_label(row)}, {row['energy_j']:.3g} J, {row['rounds']:.0f} rounds")
        if reference_box is not None:
            e_lo, e_hi, t_lo, t_hi = reference_box
            ax.add_patch(
                Rectangle((e_lo, t_lo), e_hi - e_lo, t_hi - t_lo, fill=False, ls="--", color="0.4", label="paper's range")
            )
        ax.set_xscale("log")
        ax.set_xlabel("Energy until convergence [J]")
        ax.set_ylabel("Rounds until convergence T")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
        return save_figure(fig, Path(path))


def plot_epsilon_sweep(rows: Sequence[Mapping], path: Path) -> Path:
    """I, K, m, n, energy and rounds of each selection rule as the target gap epsilon varies."""
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    panels = ("I", "K", "m", "n", "energy_j", "rounds")
    with new_figure(2, 3, figsize=(12, 6.5)) as (fig, axes):
        for ax, key in zip(axes.ravel(), panels):
            for rule, colour in zip(rules, colours(len(rules))):
                pts = sorted((r["epsilon"], r[key]) for r in rows if r["rule"] == rule)
                label, marker, _ = CHOICE_STYLE.get(rule, (rule, "o", 6))
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=colour, label=label)
            ax.set_xlabel("target optimality gap ε")
            ax.set_ylabel({"energy_j": "energy [J]", "rounds": "rounds T"}.get(key, key))
            if key == "energy_j":
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
        axes.ravel()[0].legend(fontsize=8)
        fig.suptitle("Operating points versus the accuracy target ε")
        return save_figure(fig, Path(path))


def plot_line_search(n_values: Sequence[int], energy_j: Sequence[float], best_n: int, path: Path, *, title: str) -> Path:
    """Energy until convergence against the shared precision m = n (P1's U-shaped curve)."""
    with new_figure(figsize=(6.5, 4.5)) as (fig, ax):
        ax.plot(n_values, energy_j, "-o", ms=4)
        best = list(n_values).index(best_n)
        ax.plot(best_n, energy_j[best], "*", ms=16, color="tab:red", mec="k", label=f"line-search optimum n = m = {best_n}")
        ax.plot(n_values[-1], energy_j[-1], "s", ms=8, color="0.3", label="full precision (32 bits)")
        ax.set_xlabel("precision n = m [bits]")
        ax.set_ylabel("energy until convergence [J]")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        return save_figure(fig, Path(path))
