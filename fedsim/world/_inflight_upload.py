"""An upload in flight whose rate changes while it is on air.

The channel of a device stays put for a coherence block (``radio.coherence_s``) and its position
for a mobility step (``mobility.step_s``); at each boundary of either the event world recomputes
the rate of every upload still on air. Between boundaries the rate is constant, so the bits sent
are rate x seconds and the finish time, if no boundary comes first, is since + remaining / rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def next_boundary_s(now_s: float, *periods_s: float | None) -> float:
    """The first multiple of any of ``periods_s`` strictly after ``now_s`` (inf: none given)."""
    out = math.inf
    for period in periods_s:
        if period is None:
            continue
        candidate = (math.floor(now_s / period) + 1) * period
        if candidate <= now_s:  # floating point: now_s on a boundary that divided to just below it
            candidate += period
        out = min(out, candidate)
    return out


@dataclass(slots=True)  # slots: its fields are read and written at every rate change
class InflightUpload:
    """Bits still to send, at the rate in force since ``since_s``; ``segments`` records every
    (start_s, rate_bps) the upload used, in order."""

    remaining_bits: float
    rate_bps: float
    since_s: float
    on_air_s: float = 0.0
    segments: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.segments.append((self.since_s, self.rate_bps))

    @property
    def finish_s(self) -> float:
        """When the upload ends if its rate does not change again."""
        if self.remaining_bits <= 0:
            return self.since_s
        return self.since_s + self.remaining_bits / self.rate_bps if self.rate_bps > 0 else math.inf

    def advance(self, now_s: float) -> None:
        """Send at the current rate until ``now_s``."""
        elapsed = max(now_s - self.since_s, 0.0)
        self.remaining_bits = max(self.remaining_bits - self.rate_bps * elapsed, 0.0)
        self.on_air_s += elapsed
        self.since_s = now_s

    def change_rate(self, now_s: float, rate_bps: float) -> None:
        """The rate from ``now_s`` on (after sending at the old one until then)."""
        self.advance(now_s)
        self.rate_bps = rate_bps
        self.segments.append((now_s, rate_bps))
