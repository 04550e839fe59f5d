"""Devices: hardware profiles, heterogeneous fleets, CMOS compute energy and batteries.

CMOS computation (Yang et al., "Energy Efficient Federated Learning Over Wireless Communication
Networks", IEEE TWC 2021): one local iteration over D samples at C cycles/sample on a CPU clocked
at f costs time C·D/f and energy κ·C·D·f² (κ the effective switched capacitance, 1e-28).
Example: C = 2·10⁴, D = 500, f = 1 GHz → 10 ms and 1.0 mJ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_float, check_int
from fedsim.errors import ConfigError
from fedsim.world._state import restored_array


def cmos_compute_time_s(
    cycles_per_sample: ArrayLike, samples: ArrayLike, cpu_hz: ArrayLike
) -> np.ndarray:
    """Seconds of one local iteration: C·D/f."""
    c, d, f = (np.asarray(x, dtype=float) for x in (cycles_per_sample, samples, cpu_hz))
    return c * d / f


def cmos_compute_energy_j(
    kappa: ArrayLike, cycles_per_sample: ArrayLike, samples: ArrayLike, cpu_hz: ArrayLike
) -> np.ndarray:
    """Joules of one local iteration: κ·C·D·f² (dynamic CMOS power κ·f³ over C·D/f seconds)."""
    k, c, d, f = (np.asarray(x, dtype=float) for x in (kappa, cycles_per_sample, samples, cpu_hz))
    return k * c * d * f * f


@dataclass(frozen=True)
class DeviceProfile:
    """One kind of device. Give ``cpu_hz`` (CMOS model), ``macs_per_s`` (MAC-count model), or both.

    ``cycles_per_sample`` is a number or a (low, high) range drawn uniformly per device (Yang et al.
    use U[1, 3]·1e4). Powers in W: radio transmit, receive, and idle draw.
    """

    name: str
    cpu_hz: float | None = None
    macs_per_s: float | None = None
    cycles_per_sample: float | tuple[float, float] = 2e4
    kappa: float = 1e-28
    tx_power_w: float = 0.01
    rx_power_w: float = 0.0
    idle_power_w: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("devices.name", self.name, "a non-empty string")
        if self.cpu_hz is None and self.macs_per_s is None:
            raise ConfigError("devices.cpu_hz", None, "a clock (cpu_hz) or a MAC rate (macs_per_s)")
        if self.cpu_hz is not None:
            check_float("devices.cpu_hz", self.cpu_hz, low=0, low_open=True)
        if self.macs_per_s is not None:
            check_float("devices.macs_per_s", self.macs_per_s, low=0, low_open=True)
        low, high = self.cycles_range
        check_float("devices.cycles_per_sample", low, low=0, low_open=True)
        check_float("devices.cycles_per_sample", high, low=low)
        check_float("devices.kappa", self.kappa, low=0, low_open=True)
        check_float("devices.tx_power_w", self.tx_power_w, low=0)
        check_float("devices.rx_power_w", self.rx_power_w, low=0)
        check_float("devices.idle_power_w", self.idle_power_w, low=0)

    @property
    def cycles_range(self) -> tuple[float, float]:
        c = self.cycles_per_sample
        if isinstance(c, (tuple, list)):
            if len(c) != 2:
                raise ConfigError("devices.cycles_per_sample", c, "a number or a (low, high) pair")
            return c[0], c[1]
        return c, c


@dataclass(frozen=True, eq=False)
class Fleet:
    """Per-device hardware arrays (length N) drawn from profiles. ``cpu_hz``/``macs_per_s`` are NaN
    for devices whose profile lacks them."""

    profile_names: tuple[str, ...]
    profile_index: np.ndarray
    cpu_hz: np.ndarray
    macs_per_s: np.ndarray
    cycles_per_sample: np.ndarray
    kappa: np.ndarray
    tx_power_w: np.ndarray
    rx_power_w: np.ndarray
    idle_power_w: np.ndarray

    def __len__(self) -> int:
        return int(self.profile_index.size)

    def compute_time_s(
        self, samples: ArrayLike, iterations: ArrayLike = 1, cpu_hz: ArrayLike | None = None
    ) -> np.ndarray:
        """I·C·D/f per device (f defaults to each device's clock; pass a lower one for DVFS)."""
        f = self.cpu_hz if cpu_hz is None else cpu_hz
        per_iteration = cmos_compute_time_s(self.cycles_per_sample, samples, f)
        return np.asarray(iterations, dtype=float) * per_iteration

    def compute_energy_j(
        self, samples: ArrayLike, iterations: ArrayLike = 1, cpu_hz: ArrayLike | None = None
    ) -> np.ndarray:
        """I·κ·C·D·f² per device."""
        f = self.cpu_hz if cpu_hz is None else cpu_hz
        return np.asarray(iterations, dtype=float) * cmos_compute_energy_j(
            self.kappa, self.cycles_per_sample, samples, f
        )

    def mac_time_s(self, macs: ArrayLike) -> np.ndarray:
        """Seconds to execute ``macs`` multiply-accumulates at each device's MAC rate."""
        return np.asarray(macs, dtype=float) / self.macs_per_s


def _frozen(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


def draw_fleet(
    profiles: Sequence[DeviceProfile],
    num_devices: int,
    rng: np.random.Generator,
    weights: ArrayLike | None = None,
) -> Fleet:
    """N devices, each of a profile drawn with probabilities ``weights`` (uniform by default);
    cycles-per-sample ranges are drawn uniformly per device. Seeded by ``rng``."""
    if not profiles or not all(isinstance(p, DeviceProfile) for p in profiles):
        raise ConfigError("devices.profiles", profiles, "a non-empty list of DeviceProfile")
    n = check_int("devices.num_devices", num_devices, 1)
    k = len(profiles)
    if weights is None:
        p = np.full(k, 1.0 / k)
    else:
        p = np.asarray(weights, dtype=float)
        if p.shape != (k,) or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
            allowed = f"{k} non-negative numbers with a positive sum"
            raise ConfigError("devices.profile_weights", weights, allowed)
        p = p / p.sum()
    index = rng.choice(k, size=n, p=p)

    def column(attr: str) -> np.ndarray:
        raw = [getattr(pr, attr) for pr in profiles]
        values = np.array([np.nan if v is None else v for v in raw], dtype=float)
        return _frozen(values[index])

    low = np.array([pr.cycles_range[0] for pr in profiles])[index]
    high = np.array([pr.cycles_range[1] for pr in profiles])[index]
    cycles = low + (high - low) * rng.random(n)
    return Fleet(
        profile_names=tuple(pr.name for pr in profiles),
        profile_index=_frozen(index.astype(np.int64)),
        cpu_hz=column("cpu_hz"),
        macs_per_s=column("macs_per_s"),
        cycles_per_sample=_frozen(cycles),
        kappa=column("kappa"),
        tx_power_w=column("tx_power_w"),
        rx_power_w=column("rx_power_w"),
        idle_power_w=column("idle_power_w"),
    )


class Battery:
    """Per-device batteries: capacity (J, +inf for mains power), level (J), harvesting power (W).

    State changes only through :meth:`drain` and :meth:`harvest`; levels stay in [0, capacity].
    """

    def __init__(
        self, capacity_j: ArrayLike, level_j: ArrayLike | None = None, harvest_w: ArrayLike = 0.0
    ) -> None:
        capacity = np.array(capacity_j, dtype=float, ndmin=1).reshape(-1)
        if capacity.size == 0 or np.any(np.isnan(capacity)) or np.any(capacity <= 0):
            raise ConfigError("devices.battery_j", capacity_j, "capacities > 0 J (inf for mains power)")
        n = capacity.size
        if level_j is None:
            level = capacity.copy()
        else:
            level = np.array(np.broadcast_to(np.asarray(level_j, dtype=float), (n,)))
            if np.any(np.isnan(level)) or np.any(level < 0) or np.any(level > capacity):
                raise ConfigError("devices.battery_level_j", level_j, "levels in [0, capacity] J")
        harvest = np.array(np.broadcast_to(np.asarray(harvest_w, dtype=float), (n,)))
        if not np.all(np.isfinite(harvest)) or np.any(harvest < 0):
            raise ConfigError("devices.harvest_w", harvest_w, "finite powers >= 0 W")
        capacity.flags.writeable = False
        harvest.flags.writeable = False
        self._capacity = capacity
        self._level = level
        self._harvest = harvest
        self._harvests_nothing = not np.any(harvest)

    @classmethod
    def full(cls, num_devices: int, capacity_j: float, harvest_w: float = 0.0) -> Battery:
        """N identical, fully charged batteries."""
        n = check_int("devices.num_devices", num_devices, 1)
        cap = check_float("devices.battery_j", capacity_j, low=0, low_open=True)
        return cls(np.full(n, cap), None, harvest_w)

    def __len__(self) -> int:
        return int(self._capacity.size)

    @property
    def capacity_j(self) -> np.ndarray:
        return self._capacity

    @property
    def harvest_w(self) -> np.ndarray:
        return self._harvest

    @property
    def level_j(self) -> np.ndarray:
        """A read-only copy of the current levels."""
        level = self._level.copy()
        level.flags.writeable = False
        return level

    @property
    def available(self) -> np.ndarray:
        """Devices with charge left (level > 0)."""
        return self._level > 0.0

    def _index(self, devices: ArrayLike | None) -> np.ndarray | slice:
        if devices is None:
            return slice(None)
        idx = np.asarray(devices).reshape(-1)
        if idx.size and (
            not np.issubdtype(idx.dtype, np.integer)
            or idx.min() < 0
            or idx.max() >= len(self)
            or np.unique(idx).size != idx.size
        ):
            raise ConfigError("devices", devices, f"unique indices in [0, {len(self)})")
        return idx.astype(np.int64)

    def can_afford(self, energy_j: ArrayLike, devices: ArrayLike | None = None) -> np.ndarray:
        """Whether each device (all, or ``devices``) holds at least ``energy_j``."""
        return self._level[self._index(devices)] >= np.asarray(energy_j, dtype=float)

    def drain(self, energy_j: ArrayLike, devices: ArrayLike | None = None) -> np.ndarray:
        """Take ``energy_j`` from every device (or from ``devices``, aligned); levels stop at 0.

        Returns a mask (aligned with the drained devices) of those that were charged before and
        are empty now.
        """
        return self._drain(energy_j, self._index(devices))

    def drain_unique(self, energy_j: ArrayLike, devices: np.ndarray) -> np.ndarray:
        """:meth:`drain` of ``devices`` already known to be unique int64 indices in range (a
        RoundPlan's, checked when it was made): skips re-checking them every round."""
        return self._drain(energy_j, devices)

    def spend(self, energy_j: np.ndarray, devices: np.ndarray | None = None) -> None:
        """:meth:`drain_unique` (or of every device, ``devices`` None) of a float array, without
        the returned mask: the levels it leaves are drain's, computed in place."""
        if energy_j.size and not energy_j.min() >= 0:  # NaN is not >= 0 either
            raise ConfigError("energy_j", energy_j, "energies >= 0 J")
        with np.errstate(invalid="ignore"):  # inf - inf on a mains-powered device
            after = np.subtract(self._level, energy_j, out=self._level) if devices is None else self._level[devices] - energy_j
        if not np.isfinite(after).all():  # as drain fixes it: nan -> inf, ±inf -> ±max float
            np.nan_to_num(after, copy=False, nan=np.inf)
        np.maximum(after, 0.0, out=after)
        if devices is not None:
            self._level[devices] = after

    def levels_at(self, devices: np.ndarray) -> np.ndarray:
        """The levels of ``devices`` (index array), a new array."""
        return self._level[devices]

    def levels_now(self) -> np.ndarray:
        """Every level, as a read-only view (no copy): drain, spend and harvest change the levels
        in place and the view with them, so read it before the next change."""
        view = self._level.view()
        view.flags.writeable = False
        return view

    def _drain(self, energy_j: ArrayLike, idx: np.ndarray | slice) -> np.ndarray:
        before = self._level[idx].copy()  # a slice would be a view, overwritten below
        energy = np.broadcast_to(np.asarray(energy_j, dtype=float), before.shape)
        if not (energy >= 0).all():  # one pass: NaN is not >= 0 either
            raise ConfigError("energy_j", energy_j, "energies >= 0 J")
        with np.errstate(invalid="ignore"):  # inf - inf on a mains-powered device
            after = before - energy
            # nan_to_num changes only non-finite entries (nan -> inf, ±inf -> ±max float)
            after = np.maximum(after if np.isfinite(after).all() else np.nan_to_num(after, nan=np.inf), 0.0)
        self._level[idx] = after
        return (before > 0.0) & (after <= 0.0)

    def state_dict(self) -> dict:
        """The levels (capacities and harvesting are configuration)."""
        return {"level_j": self._level.copy()}

    def load_state_dict(self, state: dict) -> None:
        level = restored_array(state["level_j"], self._level, "battery.level_j")
        if np.any(np.isnan(level)) or np.any(level < 0) or np.any(level > self._capacity):
            raise ValueError(f"world state battery.level_j: {level.tolist()} outside [0, capacity] J")
        self._level = level

    def harvest(self, duration_s: float) -> None:
        """Add harvest_w·duration to every battery, up to its capacity."""
        dt = check_float("duration_s", duration_s, low=0)
        if self._harvests_nothing and math.isfinite(dt):
            return  # level + 0·dt is level, already <= capacity
        np.minimum(self._level + self._harvest * dt, self._capacity, out=self._level)
