"""Device availability for the event-driven world: when each device is online.

``kind``:
- ``always``: every device is online all the time (the synchronous world's assumption);
- ``onoff``: each device alternates on and off periods, dwell times ``on_s`` and ``off_s``
  (``dwell=exponential``: exponential with those means, a device starting on with probability
  on/(on+off), the stationary share; ``dwell=fixed``: exactly those lengths, every device on at 0);
- ``trace``: the on-intervals of a CSV file with columns ``device,start_s,end_s`` (a device
  absent from the trace is never online; overlapping intervals of a device are merged).

Batteries add sleep on top of any kind: a device whose battery is empty sleeps until harvesting
has recharged it to ``wake_fraction`` of its capacity (the event world schedules the wake-up).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedsim._checks import check_choice, check_float, check_optional_str
from fedsim.errors import ConfigError
from fedsim.world._state import generator_state, set_generator_state

AVAILABILITY_KINDS = ("always", "onoff", "trace")
DWELL_KINDS = ("exponential", "fixed")


@dataclass(frozen=True)
class AvailabilityConfig:
    """The ``availability`` section (read by the event-driven world, ``strategy=fedasync|fedbuff``)."""

    kind: str = "always"  # when each device is online: always | onoff (on_s, off_s) | trace (trace_path)
    on_s: float = 60.0  # mean (or fixed) online dwell time
    off_s: float = 60.0  # mean (or fixed) offline dwell time
    dwell: str = "exponential"  # onoff: exponential (means on_s, off_s) | fixed (exactly those lengths)
    trace_path: str | None = None  # kind=trace: CSV device,start_s,end_s
    wake_fraction: float = 0.5  # an emptied battery wakes its device at this share of capacity

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, AVAILABILITY_KINDS)
        check_float("on_s", self.on_s, low=0, low_open=True)
        check_float("off_s", self.off_s, low=0, low_open=True)
        check_choice("dwell", self.dwell, DWELL_KINDS)
        check_optional_str("trace_path", self.trace_path, "a CSV file of device,start_s,end_s rows, or null")
        check_float("wake_fraction", self.wake_fraction, low=0, high=1, low_open=True)
        if self.kind == "trace" and self.trace_path is None:
            raise ConfigError("trace_path", None, "a CSV file of device,start_s,end_s rows with kind=trace")


def read_trace(path: str | Path, num_devices: int) -> list[list[tuple[float, float]]]:
    """Each device's on-intervals (sorted, overlaps merged) from a ``device,start_s,end_s`` CSV.

    A bad row is a one-line ConfigError naming the file, the row and what is allowed."""
    key = "availability.trace_path"
    path = Path(path)
    if not path.is_file():
        raise ConfigError(key, str(path), "an existing CSV file of device,start_s,end_s rows")
    intervals: list[list[tuple[float, float]]] = [[] for _ in range(num_devices)]
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ConfigError(key, str(path), f"a readable CSV file of device,start_s,end_s rows ({getattr(error, 'strerror', None) or type(error).__name__})") from None
    reader = iter(rows)
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["device", "start_s", "end_s"]:
        raise ConfigError(key, str(path), "a CSV whose header is device,start_s,end_s")
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            device, start, end = int(row[0]), float(row[1]), float(row[2])
            if len(row) != 3:
                raise ValueError
        except (ValueError, IndexError):
            raise ConfigError(key, f"{path}:{line} {','.join(row)}", "rows of an integer device and two numbers start_s,end_s") from None
        if not 0 <= device < num_devices:
            raise ConfigError(key, f"{path}:{line} device={device}", f"devices in [0, world.num_devices={num_devices})")
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            raise ConfigError(key, f"{path}:{line} start_s={start:g} end_s={end:g}", "finite times with 0 <= start_s <= end_s")
        intervals[device].append((start, end))
    merged = [_merged(sorted(spans)) for spans in intervals]
    if not any(merged):  # no device would ever be online: nothing could train
        raise ConfigError(key, str(path), "a trace with at least one on-interval of positive length (this one has none)")
    return merged


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in spans:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        elif end > start:
            out.append((start, end))
    return out


class OnOffProcess:
    """The on/off dwell process of every device, drawn lazily in event order.

    ``initial()`` gives each device's state at t = 0 and the time of its first switch;
    ``next_switch(device, now, going_on)`` the time of the switch after one at ``now``. Draws come
    from one generator consumed in event order, which is deterministic per seed.
    """

    def __init__(self, config: AvailabilityConfig, num_devices: int, rng: np.random.Generator) -> None:
        self.config = config
        self.num_devices = num_devices
        self.rng = rng
        # Exponential(mean) is mean x a standard exponential, and a batch of standard exponentials
        # is the same numbers as drawing them one by one: drawn 1,024 at a time (the generator
        # serves nothing else once initial() has run), the dwell times keep their bits.
        self._standard: list[float] = []

    def _dwell_s(self, online: bool) -> float:
        mean = self.config.on_s if online else self.config.off_s
        if self.config.dwell == "fixed":
            return mean
        if not self._standard:
            self._standard = self.rng.standard_exponential(1024).tolist()[::-1]  # popped from the end
        return mean * self._standard.pop()

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """(online at 0, first switch time) of every device."""
        c, n = self.config, self.num_devices
        if c.dwell == "fixed":
            return np.ones(n, dtype=bool), np.full(n, c.on_s)
        online = self.rng.random(n) < c.on_s / (c.on_s + c.off_s)
        # Exponential dwells are memoryless: the residual of the current period has the same law.
        switch = np.where(online, self.rng.exponential(c.on_s, n), self.rng.exponential(c.off_s, n))
        return online, switch

    def next_switch(self, now_s: float, going_on: bool) -> float:
        """When a device that switched at ``now_s`` (to on if ``going_on``) switches again."""
        return now_s + self._dwell_s(going_on)

    def state_dict(self) -> dict:
        """The generator and the standard exponentials drawn but not yet used (checkpoints)."""
        return {"rng": generator_state(self.rng), "standard": list(self._standard)}

    def load_state_dict(self, state: dict) -> None:
        set_generator_state(self.rng, state["rng"], "availability.rng")
        self._standard = list(state["standard"])
