"""What a sequence of serving cells costs a flight: handovers, interruptions, radio-link failures,
and the time an upload takes when handovers interrupt it.

A handover happens at a sample point where the serving cell differs from the previous point's.
It interrupts data for ``handover_interruption_s`` at the start of that sample interval. A
radio-link failure is a run of consecutive samples whose serving SINR is below ``rlf_sinr_db``
lasting longer than T310 (each sample lasts the route's step time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fedsim.errors import ConfigError
from fedsim.world._cellular import CellularNetwork
from fedsim.world._drone_route import DroneRoute


@dataclass(frozen=True, eq=False)
class RouteLinks:
    """The link map of one sampled route: (P, 3) points, (P,) arc lengths, (P, C) RSRP."""

    route: DroneRoute
    step_m: float
    points_m: np.ndarray
    arc_m: np.ndarray
    rsrp_dbm: np.ndarray

    @classmethod
    def measure(cls, network: CellularNetwork, route: DroneRoute, step_m: float) -> "RouteLinks":
        points, arc = route.sample(step_m)
        return cls(route, float(step_m), points, arc, network.rsrp_dbm(points))

    @property
    def num_points(self) -> int:
        return int(self.points_m.shape[0])

    @property
    def step_s(self) -> float:
        """Seconds between sample points (a loop's steps are evened out round the loop)."""
        spacing_m = self.arc_m[1] - self.arc_m[0] if self.num_points > 1 else self.step_m
        return float(spacing_m) / self.route.speed_mps


def strongest_cells(links: RouteLinks) -> np.ndarray:
    """(P,) the maximum-RSRP cell at every point: the papers' baseline and the fleet's default."""
    return np.argmax(links.rsrp_dbm, axis=1).astype(np.int64)


def check_serving(serving: ArrayLike, links: RouteLinks, num_cells: int) -> np.ndarray:
    """A rule's serving cells as (P,) int64, refused in one line unless one valid cell per point."""
    s = np.asarray(serving, dtype=np.int64)
    if s.shape != (links.num_points,) or s.min() < 0 or s.max() >= num_cells:
        raise ConfigError("handover.serving", f"array of shape {s.shape}", f"({links.num_points},) cells in [0, {num_cells})")
    return s


def handover_flags(serving: ArrayLike) -> np.ndarray:
    """(P,) True where the serving cell changes from the previous point (never at point 0)."""
    s = np.asarray(serving, dtype=np.int64)
    return np.concatenate(([False], s[1:] != s[:-1]))


def radio_link_failures(sinr_db: ArrayLike, step_s: float, rlf_sinr_db: float, t310_s: float) -> int:
    """Runs of out-of-sync samples (SINR < Q_out) that last longer than T310."""
    out = np.concatenate(([False], np.asarray(sinr_db) < rlf_sinr_db, [False])).astype(np.int8)
    edges = np.diff(out)
    run_samples = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return int(np.sum(run_samples * step_s > t310_s))


@dataclass(frozen=True, eq=False)
class FlightTrace:
    """A flight under one serving sequence: per-point serving cell, RSRP and SINR, and totals."""

    serving: np.ndarray
    rsrp_dbm: np.ndarray
    sinr_db: np.ndarray
    handover: np.ndarray
    length_m: float
    radio_link_failures: int
    interruption_s: float

    @property
    def handovers(self) -> int:
        return int(self.handover.sum())

    @property
    def handovers_per_km(self) -> float:
        return self.handovers / (self.length_m / 1000.0) if self.length_m > 0 else 0.0


def trace_flight(network: CellularNetwork, links: RouteLinks, serving: ArrayLike) -> FlightTrace:
    """Execute a serving sequence along a measured route."""
    s = check_serving(serving, links, network.num_cells)
    cfg = network.config
    sinr = network.sinr_db(links.rsrp_dbm, s)
    flags = handover_flags(s)
    return FlightTrace(
        serving=s,
        rsrp_dbm=links.rsrp_dbm[np.arange(s.size), s],
        sinr_db=sinr,
        handover=flags,
        length_m=float(links.arc_m[-1]),
        radio_link_failures=radio_link_failures(sinr, links.step_s, cfg.rlf_sinr_db, cfg.t310_s),
        interruption_s=float(flags.sum() * min(cfg.handover_interruption_s, links.step_s)),
    )


def upload_time_s(
    rate_bps: ArrayLike,
    handover: ArrayLike,
    step_s: float,
    start_s: float,
    bits: float,
    interruption_s: float,
    on_handover: str = "resume",
) -> float:
    """Seconds an upload of ``bits`` takes from ``start_s`` into a looped route whose sample
    interval i (``step_s`` long) carries ``rate_bps[i]``. A handover at the start of an interval
    silences its first ``interruption_s``; with ``on_handover="restart"`` it also discards what
    was sent to the old cell (an aggregator at the cell's edge: the upload starts over), with
    ``"resume"`` the new cell continues it (data forwarding). Exact for piecewise-constant rates.
    An upload that can never finish takes infinitely long (with ``restart``: no handover-free
    stretch of the loop carries it; the search stops after every start of the loop was tried).
    """
    rate = np.asarray(rate_bps, dtype=float)
    ho = np.asarray(handover, dtype=bool)
    p = rate.size
    if bits <= 0:
        return 0.0
    dead = np.where(ho, min(interruption_s, step_s), 0.0)  # (P,) seconds without data per interval
    capacity = rate * (step_s - dead)
    lap_bits = float(capacity.sum())
    if lap_bits <= 0:
        return float("inf")
    first = int(start_s // step_s)
    offset = start_s - first * step_s  # seconds into the first interval
    elapsed, sent = 0.0, 0.0
    limit = (int(np.ceil(bits / lap_bits)) + 2) * p + 1
    for n in range(limit):
        i = (first + n) % p
        entered = offset if n == 0 else 0.0
        if n > 0 and ho[i] and on_handover == "restart":
            sent = 0.0
        silent = max(0.0, dead[i] - entered)
        usable = step_s - max(entered, dead[i])
        if rate[i] * usable >= bits - sent:
            return elapsed + silent + (bits - sent) / rate[i]
        sent += rate[i] * usable
        elapsed += step_s - entered
    return float("inf")
