"""RoundDecision: what a policy decides for one round, one entry per selected device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedsim.errors import ConfigError
from fedsim.world import AUTO_CHANNEL, Observation


def _frozen(values: object, dtype: type, size: int, key: str) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True).reshape(-1)
    if array.size == 1 and size != 1:
        array = np.full(size, array[0], dtype=dtype)
    if array.size != size:
        raise ConfigError(f"decision.{key}", array.tolist(), f"{size} entries, one per selected device")
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class RoundDecision:
    """Selected devices and, per device, transmit power (W), channel, and operating point (n, m, I).

    Scalars broadcast to every selected device. ``channel`` is a resource-block index under OFDMA
    (``AUTO_CHANNEL`` lets the World assign); other access schemes take ``AUTO_CHANNEL`` only.
    """

    devices: np.ndarray
    tx_power_w: np.ndarray
    train_bits: np.ndarray
    uplink_bits: np.ndarray
    local_iters: np.ndarray
    channel: np.ndarray

    @classmethod
    def build(cls, devices, *, tx_power_w, train_bits, uplink_bits, local_iters, channel=AUTO_CHANNEL) -> "RoundDecision":
        """The decision for ``devices``; each other argument is one value per device, or a scalar
        for all of them (``tx_power_w`` in W, the precisions in bits, ``local_iters`` mini-batches)."""
        chosen = np.asarray(devices, dtype=np.int64).reshape(-1)  # aligned with the per-device arrays
        k = chosen.size
        return cls(
            devices=_frozen(chosen, np.int64, k, "devices"),
            tx_power_w=_frozen(tx_power_w, float, k, "tx_power_w"),
            train_bits=_frozen(train_bits, np.int64, k, "train_bits"),
            uplink_bits=_frozen(uplink_bits, np.int64, k, "uplink_bits"),
            local_iters=_frozen(local_iters, np.int64, k, "local_iters"),
            channel=_frozen(channel, np.int64, k, "channel"),
        )

    def check(self, observation: Observation) -> "RoundDecision":
        """Reject a decision the world cannot carry out, naming the field, in one line."""
        d = self.devices
        if np.unique(d).size != d.size or (d.size and (d.min() < 0 or not observation.available[d].all())):
            raise ConfigError("decision.devices", d.tolist(), "distinct devices that are available this round")
        p = self.tx_power_w
        cap = observation.max_tx_power_w
        if not np.all(np.isfinite(p)) or np.any(p <= 0) or np.any(p > cap * (1 + 1e-12)):
            raise ConfigError("decision.tx_power_w", p.tolist(), f"powers in (0, radio.tx_power_w={cap:g}] W")
        for key, low, high in (("train_bits", 1, 32), ("uplink_bits", 1, 32), ("local_iters", 1, None)):
            values = getattr(self, key)
            if np.any(values < low) or (high is not None and np.any(values > high)):
                raise ConfigError(f"decision.{key}", values.tolist(), f"integers in [{low}, {high or 'inf'}]")
        c = self.channel
        if observation.access_scheme == "ofdma":
            assigned = c[c != AUTO_CHANNEL]
            if np.any(assigned < 0) or np.any(assigned >= observation.channels) or np.unique(assigned).size != assigned.size:
                raise ConfigError("decision.channel", c.tolist(), f"distinct resource blocks in [0, {observation.channels}) or -1")
        elif np.any(c != AUTO_CHANNEL):
            raise ConfigError("decision.channel", c.tolist(), f"-1 (the {observation.access_scheme} scheme assigns channels itself)")
        return self
