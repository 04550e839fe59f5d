"""Shared plotting helpers: Agg backend, atomic saves, axis/colour choices."""

from __future__ import annotations

import csv
import textwrap
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
import numpy as np  # noqa: E402

# The one atomic-write helper: fedsim._atomic is standard-library only (no torch, no flwr).
from fedsim._atomic import atomic_path, atomic_writer  # noqa: E402

from ._ledger_io import RunData  # noqa: E402

ENERGY_LABEL = "Cumulative energy [J]"
ACCURACY_LABEL = "Test accuracy"
ROUNDS_LABEL = "Communication round"
# log x-axis once the positive energies span more than this ratio (2 decades)
LOG_SPAN = 100.0


@contextmanager
def new_figure(*args, **kwargs):
    """``plt.subplots`` that always closes the figure, even when drawing fails."""
    kwargs.setdefault("layout", "constrained")
    fig, axes = plt.subplots(*args, **kwargs)
    try:
        yield fig, axes
    finally:
        plt.close(fig)


def legend_labels(labels: Sequence[str], width: int = 70) -> list[str]:
    """Labels wrapped to ``width`` characters a line: runs that differ in many keys (a classifier
    beside a language model) would otherwise get a legend wide enough to squeeze the axes to nothing."""
    return [textwrap.fill(label, width) for label in labels]


def finish_axes(ax, *, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """The house style of a line plot: labels, a light grid and a small legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def save_figure(fig, path: Path, dpi: int = 130) -> Path:
    """Save ``fig`` as PNG atomically (temp file + ``os.replace``), then close it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return Path(path)


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV atomically (temp file in the same directory + ``os.replace``)."""
    with atomic_writer(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(header))
        for row in rows:
            writer.writerow(list(row))
    return Path(path)


def use_log_energy(energies: Iterable[np.ndarray]) -> bool:
    """True when the positive energies span more than two decades."""
    pos = [e[np.isfinite(e) & (e > 0)] for e in energies]
    pos = [p for p in pos if p.size]
    if not pos:
        return False
    allpos = np.concatenate(pos)
    return float(allpos.max()) / float(allpos.min()) > LOG_SPAN


def set_energy_scale(ax, log_x: bool) -> None:
    """Log x-axis with decade labels only (minor labels crowd), or linear."""
    if log_x:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())


def curve(run: RunData, x: np.ndarray, log_x: bool) -> tuple[np.ndarray, np.ndarray]:
    """(x, accuracy) restricted to finite points (and x > 0 on a log axis)."""
    y = run.accuracy
    mask = np.isfinite(x) & np.isfinite(y)
    if log_x:
        mask &= x > 0
    return x[mask], y[mask]


def colours(n: int) -> list:
    """``n`` distinguishable colours."""
    if n <= 10:
        cmap = plt.get_cmap("tab10")
        return [cmap(i) for i in range(n)]
    if n <= 20:
        cmap = plt.get_cmap("tab20")
        return [cmap(i) for i in range(n)]
    cmap = plt.get_cmap("viridis")
    return [cmap(v) for v in np.linspace(0.0, 0.95, n)]


def _get(cfg: Mapping, dotted: str) -> Any:
    cur: Any = cfg
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _fmt_num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def scenario_name(run: RunData) -> str | None:
    """The scenario the run's config.yaml names (``scenario=NAME``), None for a plain run."""
    scenario = _get(run.config, "scenario")
    name = scenario.get("name") if isinstance(scenario, Mapping) else scenario
    return str(name) if name else None


def shared_scenario(runs: Sequence[RunData]) -> str | None:
    """The scenario every run of ``runs`` names, None when they name none or differ."""
    names = {scenario_name(run) for run in runs}
    return names.pop() if len(names) == 1 else None


def _setting(run: RunData) -> list[str]:
    """What the run changed from plain FedAvg under the fixed policy: its strategy, its policy and,
    for cellular drones, the handover rule."""
    out = []
    strategy = _get(run.config, "strategy.name") or _get(run.config, "federation.name")
    if strategy and strategy != "fedavg":
        out.append(f"strategy {strategy}")
    policy = _get(run.config, "policy.name")
    if policy and policy != "fixed":
        out.append(f"policy {policy}")
    if _get(run.config, "mobility.kind") == "drone_routes" and _get(run.config, "handover.rule"):
        out.append(f"handover {_get(run.config, 'handover.rule')}")
    return out


def op_title(run: RunData) -> str:
    """Human-readable operating point, e.g. ``mnist / cnn | train 8-bit, uplink 4-bit, H=5, K=10``;
    a scenario's run names it and what it sets beyond FedAvg and the fixed policy, e.g.
    ``zeng2020_uav_swarm: digits / mlp, policy swarm_baseline | train 8-bit, ...``;
    for a Flower app run by ``fedsim run-app`` (its ``app`` in summary.json) the app's name and
    its run config, e.g. ``quickstart-pytorch | num-server-rounds=3, local-epochs=1 | 10 devices, seed 0``."""
    app = run.summary.get("app")
    if isinstance(app, Mapping) and app.get("name"):
        settings = app.get("run_config") if isinstance(app.get("run_config"), Mapping) else {}
        world = [f"{_fmt_num(run.summary['num_devices'])} devices"] if run.summary.get("num_devices") is not None else []
        if run.summary.get("seed") is not None:
            world.append(f"seed {run.summary['seed']}")
        # The run config as fits a title (~90 characters), Flower's round count first.
        room = 90 - len(str(app["name"])) - len(", ".join(world)) - 6
        shown: list[str] = []
        for key in sorted(settings, key=lambda k: k != "num-server-rounds"):
            item = f"{key}={_fmt_num(settings[key])}"
            if len(", ".join([*shown, item])) > room:
                shown.append("…")
                break
            shown.append(item)
        return " | ".join(part for part in (str(app["name"]), ", ".join(shown), ", ".join(world)) if part)
    op = run.summary.get("op")
    if not isinstance(op, Mapping):
        op = _get(run.config, "op") or {}
    parts = []
    if op.get("train_bits") is not None:
        parts.append(f"train {_fmt_num(op['train_bits'])}-bit")
    if op.get("uplink_bits") is not None:
        parts.append(f"uplink {_fmt_num(op['uplink_bits'])}-bit")
    if op.get("local_iters") is not None:
        parts.append(f"{_fmt_num(op['local_iters'])} local iters")
    if op.get("devices_per_round") is not None:
        parts.append(f"{_fmt_num(op['devices_per_round'])} devices/round")
    what = [str(v) for v in (_get(run.config, "dataset.name"), _get(run.config, "model.name")) if v]
    seed = run.summary.get("seed", _get(run.config, "seed"))
    head = ", ".join(part for part in (" / ".join(what), *_setting(run)) if part)
    scenario = scenario_name(run)
    if scenario:
        head = f"{scenario}: {head}" if head else scenario
    body = ", ".join(parts) if parts else "op point unknown"
    if seed is not None:
        body += f", seed {seed}"
    return f"{head} | {body}" if head else body


def target_accuracy(runs: Sequence[RunData]) -> float | None:
    """The target accuracy shared by ``runs`` (None if absent or inconsistent)."""
    targets = set()
    for run in runs:
        t = run.summary.get("target_accuracy")
        if isinstance(t, (int, float)) and not isinstance(t, bool) and np.isfinite(t):
            targets.add(float(t))
    return targets.pop() if len(targets) == 1 else None


def draw_target(ax, target: float | None) -> None:
    if target is not None:
        ax.axhline(target, color="0.35", linestyle="--", linewidth=1.0,
                   label=f"target {target:g}", zorder=1)
