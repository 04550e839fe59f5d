"""Figures of cellular-connected drones: for the handover reproduction, signal CDFs per rule,
handovers against the weight ratio, and a map of the sites, a route and the serving cell along it
per rule; for a drone run's ledger (``fedsim plot DIR``), each drone's serving cell and the
handovers and radio-link failures of every round (devices.csv's serving_cell, handovers, rlf)."""

from __future__ import annotations

import csv
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.ticker import MaxNLocator

from ._ledger_io import LedgerError
from ._plot_common import colours, finish_axes, new_figure, save_figure

DRONE_LINKS = "drone_links.png"
DRONE_LINK_COLUMNS = ("serving_cell", "handovers", "rlf")  # fedsim.ledger.DRONE_DEVICE_COLUMNS


def read_drone_links(run_dir: Path) -> dict[str, np.ndarray] | None:
    """devices.csv's ``round``, ``device`` and drone link columns as int arrays, one entry per
    device row; None for a run without cellular drones (no such columns)."""
    path = Path(run_dir) / "devices.csv"
    if not path.is_file():
        return None
    names = ("round", "device", *DRONE_LINK_COLUMNS)
    rows = []
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle)
        if not set(DRONE_LINK_COLUMNS) <= set(reader.fieldnames or ()):
            return None
        for line, row in enumerate(reader, start=2):
            values = []
            for name in names:
                cell = row.get(name)
                try:
                    values.append(int(cell))
                except (TypeError, ValueError):  # text, an empty cell, a row cut short
                    raise LedgerError(f"{path} line {line}: {name}={cell!r} is not an integer (a drone link column)") from None
            rows.append(values)
    table = np.array(rows, dtype=np.int64).reshape(-1, len(names))
    return {name: table[:, j] for j, name in enumerate(names)}


def plot_drone_links(links: Mapping[str, np.ndarray], path: Path, *, title: str) -> Path:
    """Top: each drone's serving cell per round (one step line per drone). Bottom: handovers and
    radio-link failures per round, summed over the round's drones."""
    rounds = np.unique(links["round"])
    drones = np.unique(links["device"])
    palette = colours(max(drones.size, 1))
    with new_figure(2, 1, figsize=(8, 6.5), sharex=True) as (fig, (top, bottom)):
        for colour, drone in zip(palette, drones):
            mine = links["device"] == drone
            top.step(links["round"][mine], links["serving_cell"][mine], where="mid", color=colour, marker="o", markersize=3,
                     label=f"drone {drone}")
        top.set_ylabel("serving cell")
        fig.suptitle(textwrap.fill(title, 100), fontsize=10)
        top.grid(True, alpha=0.3)
        if drones.size <= 12:
            top.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        per_round = {name: np.array([links[name][links["round"] == r].sum() for r in rounds]) for name in ("handovers", "rlf")}
        width = 0.4
        bottom.bar(rounds - width / 2, per_round["handovers"], width, color="C0", label="handovers")
        bottom.bar(rounds + width / 2, per_round["rlf"], width, color="C3", label="radio-link failures")
        bottom.set_xlabel("Communication round")
        bottom.set_ylabel("count in the round (all drones)")
        bottom.grid(True, axis="y", alpha=0.3)
        bottom.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        for ax in (top, bottom):  # cells, rounds and counts are integers
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        return save_figure(fig, Path(path))


def plot_cdfs(samples: Mapping[str, np.ndarray], path: Path, *, xlabel: str, title: str) -> Path:
    """Empirical CDF of each rule's samples (e.g. RSRP in dBm along the evaluation flights)."""
    palette = colours(max(len(samples), 1))
    with new_figure(figsize=(6.5, 4.5)) as (fig, ax):
        for colour, (name, values) in zip(palette, samples.items()):
            x = np.sort(np.asarray(values, dtype=float))
            ax.plot(x, np.arange(1, x.size + 1) / x.size, color=colour, label=name)
        finish_axes(ax, xlabel=xlabel, ylabel="CDF", title=title)
        return save_figure(fig, Path(path))


def plot_handovers_vs_weight(
    ratios: Sequence[float], handovers_per_km: Mapping[str, Sequence[float]], rsrp_loss_db: Mapping[str, Sequence[float]], path: Path, *, title: str
) -> Path:
    """Handovers per km (left) and mean RSRP loss against the strongest cell (right) per rule."""
    palette = colours(max(len(handovers_per_km), 1))
    x = np.arange(len(ratios))  # evenly spaced: the ratios span 0 to 1 unevenly
    with new_figure(1, 2, figsize=(10, 4)) as (fig, (left, right)):
        for colour, (name, values) in zip(palette, handovers_per_km.items()):
            left.plot(x, values, "-o", color=colour, label=name)
            if name in rsrp_loss_db:
                right.plot(x, rsrp_loss_db[name], "-o", color=colour, label=name)
        finish_axes(left, xlabel="w_HO / w_RSRP", ylabel="handovers per km")
        finish_axes(right, xlabel="w_HO / w_RSRP", ylabel="mean RSRP loss vs strongest cell [dB]")
        for ax in (left, right):
            ax.set_xticks(x, [f"{r:.3g}" for r in ratios])
        fig.suptitle(title)
        return save_figure(fig, Path(path))


def plot_serving_map(
    sites_m: np.ndarray, route_m: np.ndarray, cell_site: np.ndarray, serving: Mapping[str, np.ndarray], path: Path, *, title: str
) -> Path:
    """One panel per rule: the sites, the route coloured by serving cell, serving links drawn at
    every handover (a line from the drone to its new cell's site)."""
    n = max(len(serving), 1)
    with new_figure(1, n, figsize=(4.2 * n, 4.2), squeeze=False) as (fig, axes):
        cmap = colormaps["tab20"]
        for ax, (name, cells) in zip(axes[0], serving.items()):
            cells = np.asarray(cells)
            ax.scatter(sites_m[:, 0], sites_m[:, 1], marker="^", s=60, color="black", zorder=3, label="sites")
            for i in range(route_m.shape[0] - 1):
                ax.plot(route_m[i : i + 2, 0], route_m[i : i + 2, 1], color=cmap(int(cells[i]) % 20), lw=2.5)
            changes = np.flatnonzero(cells[1:] != cells[:-1]) + 1
            for i in changes:
                site = sites_m[cell_site[cells[i]]]
                ax.plot([route_m[i, 0], site[0]], [route_m[i, 1], site[1]], color="grey", lw=0.6, alpha=0.6)
            ax.set_title(f"{name}: {changes.size} handovers", fontsize=9)
            ax.set_aspect("equal")
            ax.set_xlabel("x [m]")
            ax.set_ylabel("y [m]")
        fig.suptitle(title)
        return save_figure(fig, Path(path))
