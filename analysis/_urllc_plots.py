"""Figures of the URLLC reproduction: reliability, latency and power over time after a regime
change; operating points against the oracle's; the GAN's conditions against the real ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._plot_common import colours, finish_axes, new_figure, save_figure


def plot_urllc_timeline(
    series: Mapping[str, Mapping[str, np.ndarray]], time_s: np.ndarray, change_s: float | None, target: float, path: Path, *, title: str
) -> Path:
    """Three panels over time per agent: windowed reliability (target dashed), mean latency, power."""
    palette = colours(max(len(series), 1))
    with new_figure(3, 1, figsize=(8, 8), sharex=True) as (fig, axes):
        for colour, (name, s) in zip(palette, series.items()):
            axes[0].plot(time_s, s["reliability"], color=colour, label=name)
            axes[1].plot(time_s, np.asarray(s["latency_s"]) * 1e3, color=colour, label=name)
            axes[2].plot(time_s, s["power_w"], color=colour, label=name)
        axes[0].axhline(target, color="black", ls="--", lw=0.8, label="target")
        for ax, label in zip(axes, ("reliability (window)", "mean latency [ms]", "transmit power [W]")):
            if change_s is not None:
                ax.axvline(change_s, color="grey", ls=":", lw=1)
            finish_axes(ax, xlabel="time [s]" if ax is axes[2] else "", ylabel=label)
        axes[0].set_ylim(max(0.9, float(np.nanmin([np.nanmin(s["reliability"]) for s in series.values()])) - 0.005), 1.0005)
        fig.suptitle(title)
        return save_figure(fig, Path(path))


def plot_operating_points(points: Mapping[str, Sequence[tuple[float, float, float]]], path: Path, *, title: str) -> Path:
    """Per window: served rate (x) against reliability (y), marker size by latency; the oracle's
    points outline the region the model-based optimum reaches."""
    palette = colours(max(len(points), 1))
    with new_figure(figsize=(6.5, 4.5)) as (fig, ax):
        for colour, (name, pts) in zip(palette, points.items()):
            p = np.asarray(pts, dtype=float)
            ax.scatter(p[:, 0] / 1e6, p[:, 1], s=10 + 2000 * p[:, 2], color=colour, alpha=0.5, label=name)
        finish_axes(ax, xlabel="served rate [Mbit/s]", ylabel="reliability", title=title)
        return save_figure(fig, Path(path))


def plot_condition_samples(real: np.ndarray, generated: np.ndarray, extreme: np.ndarray, names: Sequence[str], path: Path, *, title: str) -> Path:
    """Histograms per condition dimension: held-out real, generated, and generated extremes."""
    with new_figure(1, len(names), figsize=(4.5 * len(names), 3.8), squeeze=False) as (fig, axes):
        for k, (ax, name) in enumerate(zip(axes[0], names)):
            bins = np.linspace(min(real[:, k].min(), extreme[:, k].min()), max(real[:, k].max(), extreme[:, k].max()), 40)
            for data, label in ((real, "real (held out)"), (generated, "generated"), (extreme, "generated, extreme")):
                ax.hist(data[:, k], bins=bins, density=True, histtype="step", label=label)
            finish_axes(ax, xlabel=name, ylabel="density")
        fig.suptitle(title)
        return save_figure(fig, Path(path))
