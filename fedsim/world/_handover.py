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
        return self.route.step_s(self.step_m)


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
    s = np.asarray(serving, dtype=np.int64)
    if s.shape != (links.num_points,) or s.min() < 0 or s.max() >= network.num_cells:
        raise ConfigError("handover.serving", f"array of shape {s.shape}", f"({links.num_points},) cells in [0, {network.num_cells})")
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
    rate_bps: ArrayLike, handover: ArrayLike, step_s: float, start_s: float, bits: float, interruption_s: float
) -> tuple[float, float]:
    """(duration, time lost to handovers) of an upload of ``bits`` starting ``start_s`` into a
    looped route whose sample interval i (length ``step_s``) carries ``rate_bps[i]``, except for
    the first ``interruption_s`` of an interval that starts with a handover.

    Exact for piecewise-constant rates: the bits are integrated interval by interval (vectorised
    over as many route laps as the upload needs). An upload that can never finish (zero rate
    everywhere) takes infinitely long.
    """
    rate = np.asarray(rate_bps, dtype=float)
    ho = np.asarray(handover, dtype=bool)
    p = rate.size
    if bits <= 0:
        return 0.0, 0.0
    dead = np.where(ho, min(interruption_s, step_s), 0.0)  # (P,) seconds without data per interval
    lap_bits = float(np.sum(rate * (step_s - dead)))
    if lap_bits <= 0:
        return float("inf"), 0.0
    first = int(start_s // step_s) % p
    offset = start_s - (start_s // step_s) * step_s  # seconds into the first interval
    laps = int(np.ceil(bits / lap_bits)) + 2
    idx = (first + np.arange(laps * p)) % p
    dead_here = dead[idx].copy()
    usable = step_s - dead_here
    usable[0] = max(0.0, step_s - max(offset, dead_here[0]))  # the first interval is entered late
    dead_here[0] = max(0.0, dead_here[0] - offset)
    carried = rate[idx] * usable
    cum = np.cumsum(carried)
    last = int(np.searchsorted(cum, bits))  # the interval where the last bit goes out
    before = cum[last - 1] if last else 0.0
    elapsed_before = (step_s - offset) + (last - 1) * step_s if last else 0.0
    within = dead_here[last] + (bits - before) / rate[idx[last]]
    lost = float(np.sum(dead_here[: last + 1]))
    return float(elapsed_before + within), lost
