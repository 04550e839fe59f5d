"""Figures for a single fedsim run."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Union

import matplotlib

matplotlib.use("Agg")

from ._handover_plots import DRONE_LINKS, plot_drone_links, read_drone_links  # noqa: E402
from ._ledger_io import PathLike, RunData, load_run  # noqa: E402
from ._sweep_plots import PERPLEXITY_VS_ENERGY, draw_perplexity, has_perplexity  # noqa: E402
from ._plot_common import (  # noqa: E402
    ACCURACY_LABEL,
    ENERGY_LABEL,
    ROUNDS_LABEL,
    curve,
    draw_target,
    new_figure,
    op_title,
    save_figure,
    set_energy_scale,
    target_accuracy,
    use_log_energy,
)

__all__ = ["plot_run", "ACCURACY_VS_ROUNDS", "ACCURACY_VS_ENERGY"]

ACCURACY_VS_ROUNDS = "accuracy_vs_rounds.png"
ACCURACY_VS_ENERGY = "accuracy_vs_energy.png"


def _style(ax, title: str, xlabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ACCURACY_LABEL)
    ax.set_title(textwrap.fill(title, 80), fontsize=10)  # a scenario's title runs long
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9, framealpha=0.9)


def plot_run(run_dir: Union[PathLike, RunData], out_dir: PathLike | None = None) -> list[Path]:
    """Write ``accuracy_vs_rounds.png`` and ``accuracy_vs_energy.png`` for one run, and for a run
    of cellular drones ``drone_links.png`` (serving cells, handovers and radio-link failures).

    ``out_dir`` defaults to the run directory.  Returns the written paths.
    """
    run = run_dir if isinstance(run_dir, RunData) else load_run(run_dir)
    links = read_drone_links(run.path)  # read first: a damaged devices.csv leaves no figure behind
    out = Path(out_dir) if out_dir is not None else run.path
    out.mkdir(parents=True, exist_ok=True)
    title = op_title(run)
    target = target_accuracy([run])
    written = []

    # accuracy vs rounds
    with new_figure(figsize=(7, 4.5)) as (fig, ax):
        x, y = curve(run, run.round_index, log_x=False)
        ax.plot(x, y, marker="o" if x.size <= 40 else None, markersize=3,
                color="C0", label="test accuracy")
        draw_target(ax, target)
        _style(ax, title, ROUNDS_LABEL)
        written.append(save_figure(fig, out / ACCURACY_VS_ROUNDS))

    # accuracy vs cumulative energy
    energy = run.energy_cum
    log_x = use_log_energy([energy])
    with new_figure(figsize=(7, 4.5)) as (fig, ax):
        x, y = curve(run, energy, log_x=log_x)
        ax.plot(x, y, marker="o" if x.size <= 40 else None, markersize=3,
                color="C1", label="test accuracy")
        set_energy_scale(ax, log_x)
        draw_target(ax, target)
        _style(ax, title, ENERGY_LABEL + (" (log scale)" if log_x else ""))
        written.append(save_figure(fig, out / ACCURACY_VS_ENERGY))
    if has_perplexity(run):
        written.append(draw_perplexity([run], ["test perplexity"], ["C2"], out / PERPLEXITY_VS_ENERGY))
    if links is not None and links["round"].size:
        written.append(plot_drone_links(links, out / DRONE_LINKS, title=title))
    return written
