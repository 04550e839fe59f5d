"""Seeds as a sweep axis: runs that differ only in ``seed`` form one group, summarised by the mean
over seeds and a 95% Student-t confidence interval of that mean.

    fedsim run -m seed=0,1,2 op.train_bits=4,8    # 2 groups of 3 seeds
    fedsim plot multirun/...                       # mean curves with shaded bands, seed_summary.csv

A group is every run with the same values of the keys that vary across the sweep, ``seed`` left
out.  The interval of a group of n >= 2 seeds is mean +- t_{0.975, n-1} * s / sqrt(n) (``s`` the
sample standard deviation); a group of one seed has a mean and no interval.  Numbers only: the
figures are in ``_seed_plots``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, Iterable, Sequence

import numpy as np

from ._ledger_io import RunData, format_value, run_metrics, run_params, short_keys, varying_keys

__all__ = [
    "SEED_KEY",
    "CONFIDENCE",
    "SEED_METRIC_COLUMNS",
    "Band",
    "Interval",
    "SeedGroup",
    "band_vs_energy",
    "band_vs_rounds",
    "format_interval",
    "seed_groups",
    "seed_summary_rows",
    "seed_table",
    "t_interval",
]

SEED_KEY = "seed"
CONFIDENCE = 0.95
# per-run metrics summarised over the seeds of a group (the *_to_target ones over the seeds that
# reached the target)
SEED_METRIC_COLUMNS = [
    "final_accuracy", "total_energy_j", "sim_time_s", "wall_time_s", "rounds_to_target", "energy_to_target_j",
]


def _t_quantile(n: int) -> float:
    """t_{(1 + CONFIDENCE) / 2, n - 1}: 12.706 for n = 2, 4.303 for n = 3."""
    from scipy import stats  # here, not at import: scipy.stats costs a noticeable fraction of a second

    return float(stats.t.ppf(0.5 + CONFIDENCE / 2.0, n - 1))


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values and the half-width of its 95% t-interval (``None`` when n < 2)."""

    mean: float | None
    half_width: float | None
    n: int


def t_interval(values: Iterable[Any]) -> Interval:
    """Mean +- t_{0.975, n-1} * s / sqrt(n) over the finite numbers in ``values``."""
    vals = np.array([float(v) for v in values if _finite(v)], dtype=float)
    n = int(vals.size)
    if n == 0:
        return Interval(None, None, 0)
    mean = float(vals.mean())
    if n < 2:
        return Interval(mean, None, n)
    return Interval(mean, _t_quantile(n) * float(vals.std(ddof=1)) / math.sqrt(n), n)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(float(v))


# --------------------------------------------------------------------------- #
# grouping
# --------------------------------------------------------------------------- #


@dataclass
class SeedGroup:
    """Runs that share every varying config value but ``seed``.

    ``params``: the other varying keys (full dotted names) and their values; ``label``: the same
    with the shortest unambiguous key names, ``""`` when only the seed varies.
    """

    params: dict[str, str]
    label: str
    runs: list[RunData] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def seeds(self) -> list[str]:
        return [format_value(run_metrics(run)["seed"]) for run in self.runs]

    @property
    def last_rounds(self) -> list[int]:
        """Each seed's last round in rounds.csv."""
        return [int(np.nanmax(run.round_index)) if run.n_rows else 0 for run in self.runs]

    @property
    def rounds_differ(self) -> bool:
        """True when the seeds ran different numbers of rounds (one stopped at the target)."""
        return len(set(self.last_rounds)) > 1

    def legend_label(self) -> str:
        """``"train_bits=4 (n=3)"``; ``"... (n=3, band to round 12)"`` when a seed stopped early;
        ``"seeds 0,1,2 (n=3)"`` when only the seed varies."""
        base = self.label or ("seeds " + ",".join(self.seeds) if self.n <= 6 else "all seeds")
        if self.n >= 2 and self.rounds_differ:
            return f"{base} (n={self.n}, band to round {min(self.last_rounds)})"
        return f"{base} (n={self.n})"


def seed_groups(runs: Sequence[RunData]) -> list[SeedGroup] | None:
    """The runs grouped by every varying key except ``seed``, in order of first appearance.

    ``None`` when the sweep has no seed repeats (``seed`` does not vary, or no group holds two
    runs): such a sweep is drawn and tabulated one run per configuration, as before.
    """
    keys = varying_keys(runs)
    if SEED_KEY not in keys:
        return None
    keys = [k for k in keys if k != SEED_KEY]
    names = short_keys(keys)
    groups: dict[tuple, SeedGroup] = {}
    for run in runs:
        params = run_params(run, keys)
        group = groups.get(tuple(params.values()))
        if group is None:
            label = ", ".join(f"{names[k]}={_compact(v)}" for k, v in params.items())
            group = groups[tuple(params.values())] = SeedGroup(params, label)
        group.runs.append(run)
    out = list(groups.values())
    return out if any(g.n >= 2 for g in out) else None


def _compact(value: str) -> str:
    """A float as ``%g`` for legend labels (``1e+07``, not ``10000000.0``); anything else as is."""
    if any(c in value for c in ".eE") and not value.startswith("["):
        try:
            return f"{float(value):g}"
        except ValueError:
            pass
    return value


# --------------------------------------------------------------------------- #
# bands
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Band:
    """Mean accuracy over the seeds of a group on a common x grid, and the half-width of its 95%
    t-interval at each x (nan everywhere for a single seed).  Empty when the seeds share no x."""

    x: np.ndarray
    mean: np.ndarray
    half_width: np.ndarray
    n: int

    @property
    def x_end(self) -> float:
        """Where the band stops (nan when empty)."""
        return float(self.x[-1]) if self.x.size else math.nan

    @property
    def lower(self) -> np.ndarray:
        return self.mean - self.half_width

    @property
    def upper(self) -> np.ndarray:
        return self.mean + self.half_width


def _band(x: np.ndarray, ys: list[np.ndarray]) -> Band:
    n = len(ys)
    if x.size == 0 or n == 0:
        empty = np.empty(0)
        return Band(empty, empty, empty, n)
    matrix = np.vstack(ys)
    mean = matrix.mean(axis=0)
    if n < 2:
        half = np.full(x.shape, np.nan)
    else:
        half = _t_quantile(n) * matrix.std(axis=0, ddof=1) / math.sqrt(n)
    return Band(x, mean, half, n)


def seed_points(run: RunData, x: np.ndarray, log_x: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(x, accuracy) of one run's evaluated rows (finite, and x > 0 on a log axis)."""
    y = run.accuracy
    keep = np.isfinite(x) & np.isfinite(y)
    if log_x:
        keep &= x > 0
    return x[keep], y[keep]


def band_vs_rounds(runs: Sequence[RunData]) -> Band:
    """Mean and 95% half-width of test accuracy per round, over the rounds every seed evaluated.

    Seeds that ran different numbers of rounds (one stopped early at the target) give a band only
    up to the shortest run: past it the mean would silently switch to fewer seeds.
    """
    series = [seed_points(run, run.round_index) for run in runs]
    common = reduce(np.intersect1d, [x for x, _ in series]) if series else np.empty(0)
    ys = []
    for x, y in series:
        order = np.argsort(x, kind="stable")
        ys.append(y[order][np.searchsorted(x[order], common)])
    return _band(common, ys)


def _last_per_x(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique x with the accuracy of the last row at each (a round that spent no energy
    repeats the previous round's cumulative energy)."""
    ux, idx = np.unique(x[::-1], return_index=True)
    return ux, y[::-1][idx]


def band_vs_energy(runs: Sequence[RunData], log_x: bool = False) -> Band:
    """Mean and 95% half-width of test accuracy against cumulative energy.

    Energy per round differs between seeds (other channel draws, other devices picked), so seed A's
    k-th evaluation sits at another energy than seed B's: averaging row by row would average points
    at different x.  Each seed's curve is instead interpolated (linearly, between its own
    evaluations) onto one grid, the union of all seeds' evaluated energies, so every measured point
    is kept, restricted to the range every seed covers (from the largest first energy to the
    smallest last one), where no seed would have to be extrapolated.
    """
    series = [_last_per_x(*seed_points(run, run.energy_cum, log_x)) for run in runs]
    if not series or any(x.size == 0 for x, _ in series):
        return _band(np.empty(0), [])
    lo = max(float(x[0]) for x, _ in series)
    hi = min(float(x[-1]) for x, _ in series)
    grid = np.unique(np.concatenate([x[(x >= lo) & (x <= hi)] for x, _ in series])) if lo <= hi else np.empty(0)
    return _band(grid, [np.interp(grid, x, y) for x, y in series])


# --------------------------------------------------------------------------- #
# table
# --------------------------------------------------------------------------- #


def _metric_values(run: RunData) -> dict[str, Any]:
    values = run_metrics(run)
    values["wall_time_s"] = run.summary.get("wall_time_s")
    return values


def seed_summary_rows(groups: Sequence[SeedGroup]) -> tuple[list[str], list[dict]]:
    """``(keys, rows)``: per group its varying keys' values, ``n_seeds``, ``seeds`` (space
    separated), ``reached_target`` (how many seeds reached it; ``None`` without a target) and, per
    metric of :data:`SEED_METRIC_COLUMNS`, an :class:`Interval` over the seeds."""
    keys = list(groups[0].params) if groups else []
    rows = []
    for group in groups:
        values = [_metric_values(run) for run in group.runs]
        has_target = any(_finite(v.get("target_accuracy")) for v in values)
        row: dict[str, Any] = dict(group.params)
        row["n_seeds"] = group.n
        row["seeds"] = " ".join(group.seeds)
        row["reached_target"] = sum(_finite(v.get("rounds_to_target")) for v in values) if has_target else None
        for column in SEED_METRIC_COLUMNS:
            row[column] = t_interval(v.get(column) for v in values)
        rows.append(row)
    return keys, rows


def seed_csv(groups: Sequence[SeedGroup]) -> tuple[list[str], list[list[Any]]]:
    """Header and raw rows of ``seed_summary.csv``: ``<metric>_mean`` and ``<metric>_ci95`` (the
    half-width; empty for one seed) per metric."""
    keys, rows = seed_summary_rows(groups)
    header = [*keys, "n_seeds", "seeds", "reached_target"]
    for column in SEED_METRIC_COLUMNS:
        header += [f"{column}_mean", f"{column}_ci95"]
    body = []
    for row in rows:
        line = [row[k] for k in keys] + [row["n_seeds"], row["seeds"], row["reached_target"]]
        for column in SEED_METRIC_COLUMNS:
            line += [row[column].mean, row[column].half_width]
        body.append(line)
    return header, body


def format_interval(interval: Interval) -> str | None:
    """``"0.63 ± 0.15"``: the half-width to 2 significant digits, the mean to the same decimal
    place; a single value as is (no interval); ``None`` when there is no value."""
    from ._table import format_cell

    mean, half = interval.mean, interval.half_width
    if mean is None:
        return None
    if half is None:
        return format_cell(mean)
    if half == 0 or not math.isfinite(half):
        return f"{format_cell(mean)} ± {format_cell(half)}"
    scale = max(abs(mean), half)
    if scale < 1e-3 or scale >= 1e6:
        return f"{mean:.3g} ± {half:.2g}"
    decimals = max(0, 1 - math.floor(math.log10(half)))
    return f"{mean:.{decimals}f} ± {half:.{decimals}f}"


def seed_table(groups: Sequence[SeedGroup]) -> str:
    """The per-group table ``python -m analysis`` prints: n seeds, then mean ± 95% half-width of
    each metric (a group of one seed: its value, no interval)."""
    from ._table import summary_table

    keys, rows = seed_summary_rows(groups)
    names = short_keys(keys)
    columns = [*(names[k] for k in keys), "n"]
    cells = []
    for row in rows:
        cell = {names[k]: row[k] for k in keys}
        cell["n"] = row["n_seeds"]
        for column in SEED_METRIC_COLUMNS:
            cell[column] = format_interval(row[column])
        if row["reached_target"] is not None:
            cell["reached_target"] = f"{row['reached_target']}/{row['n_seeds']}"
        cells.append(cell)
    columns += ["final_accuracy", "total_energy_j", "sim_time_s", "wall_time_s"]
    if any(row["reached_target"] is not None for row in rows):
        columns += ["reached_target", "rounds_to_target", "energy_to_target_j"]
    # metrics that no run records (wall_time_s of an old ledger) are left out
    columns = [c for c in columns if any(cell.get(c) is not None for cell in cells)]
    header = f"mean ± {CONFIDENCE:.0%} CI half-width over seeds (Student t); n=1: one seed, no interval"
    return header + "\n" + summary_table(cells, columns)
