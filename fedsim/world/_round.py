"""The round types: what the federation asks of the World (``RoundPlan``) and what happened
(``RoundOutcome``), one array entry per selected device."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from fedsim._checks import check_float, check_int
from fedsim.errors import ConfigError
from fedsim.world._compute_energy import check_train_bits
from fedsim.world._faults import CLIENT_ERROR, MESSAGE_LOSS, NONFINITE_UPDATE

AUTO_CHANNEL = -1  # a plan's channel entry that lets the access scheme assign one
# The World's reasons, then the server's: a failed ClientApp, an update with NaN/inf.
# harq_exhausted: a transport block failed all its HARQ transmissions (radio.rate_model nr or lte).
DROP_REASONS = ("", "deadline", "packet_error", "harq_exhausted", "battery", "handover", MESSAGE_LOSS, CLIENT_ERROR, NONFINITE_UPDATE)


def _frozen_array(values: object, dtype: type, copy: bool = True) -> np.ndarray:
    """A read-only 1-D array of ``values``; ``copy=False`` freezes an array the caller has just
    made and holds no other reference to (no copy)."""
    array = np.array(values, dtype=dtype, copy=True if copy else None).reshape(-1)
    array.flags.writeable = False  # frozen dataclass: the arrays must not change behind it either
    return array


# eq=False: the generated __eq__ would compare numpy arrays with `==` and fail on truthiness;
# compare fields with np.array_equal instead.
@dataclass(frozen=True, eq=False)
class RoundPlan:
    """What the federation asks of the world in one round, one entry per selected device."""

    round: int
    devices: np.ndarray  # device indices, unique, in [0, num_devices)
    local_iters: np.ndarray  # local SGD iterations (mini-batches)
    train_bits: np.ndarray  # training precision n, in [1, 32]
    uplink_bits: np.ndarray  # payload size in bits (e.g. d·m for m-bit updates), not the precision
    downlink_bits: float = 0.0  # global model broadcast before training (0: not modelled)
    # Per device; None: the radio's tx_power_w / the access scheme assigns (AUTO_CHANNEL = -1).
    tx_power_w: np.ndarray | None = None
    channel: np.ndarray | None = None

    def __post_init__(self) -> None:
        check_int("plan.round", self.round, 0)
        object.__setattr__(self, "round", int(self.round))
        arrays = {
            "devices": self.devices,
            "local_iters": self.local_iters,
            "train_bits": self.train_bits,
            "uplink_bits": self.uplink_bits,
        }
        converted = {}
        for name, values in arrays.items():
            raw = np.asarray(values)
            if raw.ndim > 1:
                raise ConfigError(f"plan.{name}", values, "a 1-D sequence, one entry per device")
            converted[name] = raw.reshape(-1)
        size = converted["devices"].size
        for name, raw in converted.items():
            if raw.size != size:
                raise ConfigError(f"plan.{name}", arrays[name], f"{size} entries, one per device")
        devices = converted["devices"]
        if devices.size and (
            not np.issubdtype(devices.dtype, np.integer)
            or np.any(devices < 0)
            # strictly increasing (the usual selection) is unique without sorting a copy
            or (not np.all(devices[1:] > devices[:-1]) and np.unique(devices).size != size)
        ):
            raise ConfigError("plan.devices", arrays["devices"], "unique integer indices >= 0")
        iters = converted["local_iters"]
        if iters.size and (not np.issubdtype(iters.dtype, np.integer) or np.any(iters < 1)):
            raise ConfigError("plan.local_iters", arrays["local_iters"], "integers >= 1")
        bits = check_train_bits(converted["train_bits"])
        payload = converted["uplink_bits"]
        if payload.size and (
            not np.issubdtype(payload.dtype, np.number)
            or not np.all(np.isfinite(payload))
            or np.any(payload < 0)
        ):
            raise ConfigError("plan.uplink_bits", arrays["uplink_bits"], "finite bit counts >= 0")
        check_float("plan.downlink_bits", self.downlink_bits, low=0)
        object.__setattr__(self, "devices", _frozen_array(devices, np.int64))
        object.__setattr__(self, "local_iters", _frozen_array(iters, np.int64))
        object.__setattr__(self, "train_bits", _frozen_array(bits, np.int64))
        object.__setattr__(self, "uplink_bits", _frozen_array(payload, float))
        if self.tx_power_w is not None:
            power = np.asarray(self.tx_power_w, dtype=float).reshape(-1)
            if power.size != size or not np.all(np.isfinite(power)) or np.any(power <= 0):
                raise ConfigError("plan.tx_power_w", self.tx_power_w, f"{size} finite powers > 0 W, one per device")
            object.__setattr__(self, "tx_power_w", _frozen_array(power, float))
        if self.channel is not None:
            channel = np.asarray(self.channel).reshape(-1)
            if channel.size != size or (size and not np.issubdtype(channel.dtype, np.integer)) or np.any(channel < AUTO_CHANNEL):
                raise ConfigError("plan.channel", self.channel, f"{size} channel indices >= 0 (or -1: assigned by the access scheme)")
            object.__setattr__(self, "channel", _frozen_array(channel, np.int64))


@dataclass(frozen=True, eq=False)
class RoundOutcome:
    """What happened to each selected device in one round (arrays aligned with ``devices``).

    Times ending in ``_s`` are durations except ``start_s`` (the simulated time the round began),
    ``upload_start_s`` and ``finish_s`` (absolute simulated times).
    """

    round: int
    devices: np.ndarray
    tx_power_w: np.ndarray  # the power each device transmitted at
    channel: np.ndarray  # the channel (resource block, FDMA sub-band, or 0 for TDMA's one) it used
    compute_s: np.ndarray
    upload_s: np.ndarray  # seconds actually on air
    energy_compute_j: np.ndarray
    energy_uplink_j: np.ndarray
    energy_download_j: np.ndarray
    energy_propulsion_j: np.ndarray  # UAVs only; reported apart from learning energy
    delivered: np.ndarray  # bool: arrived before the deadline, intact, battery not empty
    drop_reason: np.ndarray  # "" (delivered), "deadline", "packet_error", "battery", "handover", "message_loss"
    channel_gain: np.ndarray  # large-scale gain x fading, linear
    distance_m: np.ndarray
    upload_start_s: np.ndarray
    finish_s: np.ndarray
    battery_j: np.ndarray  # level after the round (inf: mains power)
    position_m: np.ndarray  # (K, 3)
    start_s: float  # the simulated time the round began
    duration_s: float  # until every expected upload arrived or the deadline passed
    download_s: float

    def state_dict(self) -> dict:
        """The outcome as plain values and numpy arrays (a checkpoint keeps the last one: the next
        observation reports it to the policy)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_state_dict(cls, state: dict) -> RoundOutcome:
        values = {f.name: state[f.name] for f in fields(cls)}
        for name, value in values.items():
            if isinstance(value, np.ndarray):  # per-device arrays frozen as simulate_round makes them
                values[name] = _frozen_array(value, value.dtype) if value.ndim == 1 else np.array(value)
        return cls(**values)

    @property
    def energy_j(self) -> float:
        """Joules spent by the selected devices for learning (download, compute, uplink)."""
        return float(self.energy_compute_j.sum() + self.energy_uplink_j.sum()) + float(self.energy_download_j.sum())
