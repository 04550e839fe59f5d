"""Figures of the UAV-swarm reproduction: rounds vs pointing error, loss with the bound, and a
snapshot of the swarm with the links each design schedules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._plot_common import colours, finish_axes, new_figure, save_figure


def plot_rounds_vs_sweep(
    x: Sequence[float],
    simulated: Mapping[str, Sequence[float]],
    bound: Mapping[str, Sequence[float]],
    path: Path,
    *,
    xlabel: str,
    title: str,
) -> Path:
    """Rounds to the target per design: simulated (solid, markers) and the bound (dashed)."""
    palette = colours(max(len(simulated), 1))
    with new_figure(figsize=(6.5, 4.5)) as (fig, ax):
        for colour, (name, values) in zip(palette, simulated.items()):
            ax.plot(x, [np.nan if v is None else v for v in values], "-o", color=colour, label=f"{name} (simulated)")
            if name in bound:
                ax.plot(x, [np.nan if v is None else v for v in bound[name]], "--", color=colour, alpha=0.7, label=f"{name} (bound)")
        finish_axes(ax, xlabel=xlabel, ylabel="rounds to the target", title=title)
        return save_figure(fig, Path(path))


def plot_gap_with_bound(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], target_gap: float, path: Path, *, title: str) -> Path:
    """Simulated optimality gap F(w_t) − F* per design (solid) against the bound's (dashed)."""
    palette = colours(max(len(curves), 1))
    with new_figure(figsize=(6.5, 4.5)) as (fig, ax):
        for colour, (name, (simulated, predicted)) in zip(palette, curves.items()):
            ax.semilogy(np.arange(len(simulated)), np.maximum(simulated, 1e-6), "-", color=colour, label=f"{name} (simulated)")
            ax.semilogy(np.arange(len(predicted)), np.maximum(predicted, 1e-6), "--", color=colour, alpha=0.8, label=f"{name} (bound)")
        ax.axhline(target_gap, color="0.4", lw=0.8, ls=":", label="target gap")
        ax.set_xlabel("round")
        ax.set_ylabel("optimality gap F(w) − F* (test loss)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        return save_figure(fig, Path(path))


def plot_swarm_snapshot(
    positions_m: np.ndarray, leader_m: Sequence[float], scheduled: Mapping[str, Sequence[int]], path: Path, *, title: str
) -> Path:
    """Followers around the leader (top view) with the uplinks each design schedules in a round."""
    palette = colours(max(len(scheduled), 1))
    with new_figure(figsize=(6.0, 5.5)) as (fig, ax):
        ax.plot(positions_m[:, 0], positions_m[:, 1], "o", color="0.5", ms=7, label="followers")
        for i, (x, y) in enumerate(positions_m[:, :2]):
            ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.plot(leader_m[0], leader_m[1], "*", ms=16, color="tab:red", mec="k", label="leader (aggregator)")
        for k, (colour, (name, devices)) in enumerate(zip(palette, scheduled.items())):
            for j, d in enumerate(devices):
                ax.plot([leader_m[0], positions_m[d, 0]], [leader_m[1], positions_m[d, 1]], "-", color=colour,
                        lw=2.5 - k, alpha=0.8, label=name if j == 0 else None)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        return save_figure(fig, Path(path))
