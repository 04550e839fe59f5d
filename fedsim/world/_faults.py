"""The fault model: crashes, non-finite updates, transient stragglers, lost messages and Byzantine
(adversarial) updates, injected with configured probabilities (``faults.*``, all 0 by default).

Each device's faults in a round come from the ``(seed, "faults", round, device)`` stream, one
uniform per fault kind in a fixed order, so a draw does not depend on the engine, on who else was
selected, or on the other probabilities, and a resumed run draws what the uninterrupted one did
(no checkpoint state). The World applies stragglers and message loss (physics); the ClientApp
raises or corrupts its update (software); the server detects the results (``client_error``,
``nonfinite_update``). A Byzantine device uploads an attacked update (``faults.attack``) that looks
like any other: nothing detects it, only a robust strategy (FedMedian, Krum, ...) can resist it.
Plain numpy: the world and the config may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from fedsim._checks import check_choice, check_float
from fedsim.rng import numpy_stream

# Drop reasons the faults produce (devices.csv ``drop_reason``).
CLIENT_ERROR = "client_error"  # the ClientApp raised; its reply carries the error
NONFINITE_UPDATE = "nonfinite_update"  # the update held NaN/inf; the server excluded it
MESSAGE_LOSS = "message_loss"  # the upload was lost in the air (its energy was still spent)


class InjectedFaultError(RuntimeError):
    """The crash a ClientApp raises when ``faults.client_crash_prob`` draws it."""


class DeviceFaults(NamedTuple):
    """What went wrong for one device in one round."""

    crash: bool
    nonfinite: bool
    straggler: bool
    message_loss: bool
    byzantine: bool = False  # uploads an attacked update (``faults.attack``)


NO_FAULTS = DeviceFaults(False, False, False, False)

# What a Byzantine device uploads instead of its update Δ (``faults.attack``; s = attack_scale).
ATTACKS = (
    "sign_flip",  # -s·Δ: pushes the model against the descent direction
    "gaussian",  # noise of Δ's shape, N(0, (s·std(Δ))²) per tensor: no information, plausible scale
    "scaled",  # s·Δ: a boosted (model-replacement style) update
)


class RoundFaults(NamedTuple):
    """The faults the World applies, one entry per selected device."""

    straggler: np.ndarray  # bool: compute takes straggler_slowdown times longer this round
    message_loss: np.ndarray  # bool: the upload is lost in the air


@dataclass(frozen=True)
class FaultConfig:
    """Probabilities, per device and round, of each injected fault (the ``faults`` section)."""

    client_crash_prob: float = 0.0  # the ClientApp raises
    nonfinite_prob: float = 0.0  # the uploaded update becomes NaN/inf
    straggler_prob: float = 0.0  # local training is ``straggler_slowdown`` times slower this round
    straggler_slowdown: float = 4.0  # compute-time factor of a straggler, >= 1
    message_loss_prob: float = 0.0  # the upload is lost in the air
    byzantine_prob: float = 0.0  # the device uploads an attacked update (``attack``) this round
    attack: str = "sign_flip"  # what a Byzantine device uploads: one of ``ATTACKS``
    attack_scale: float = 4.0  # s of the attack, > 0

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.endswith("_prob"):
                object.__setattr__(self, f.name, check_float(f.name, getattr(self, f.name), low=0, high=1))
        object.__setattr__(self, "straggler_slowdown", check_float("straggler_slowdown", self.straggler_slowdown, low=1, high=1e9))
        check_choice("attack", self.attack, ATTACKS)
        object.__setattr__(self, "attack_scale", check_float("attack_scale", self.attack_scale, low=0, low_open=True, high=1e9))

    @property
    def any(self) -> bool:
        """Whether any fault can happen (all 0: nothing is drawn, the run is today's)."""
        return any(getattr(self, f.name) > 0 for f in fields(self) if f.name.endswith("_prob"))

    def draw(self, seed: int, round_index: int, device: int) -> DeviceFaults:
        """The faults of ``device`` in round ``round_index``. The Byzantine uniform is drawn fifth,
        after the other four, so adding it moved none of theirs (``random(5)[:4] == random(4)``)."""
        if not self.any:
            return NO_FAULTS
        u = numpy_stream(seed, "faults", round_index, device).random(5)
        return DeviceFaults(
            crash=bool(u[0] < self.client_crash_prob),
            nonfinite=bool(u[1] < self.nonfinite_prob),
            straggler=bool(u[2] < self.straggler_prob),
            message_loss=bool(u[3] < self.message_loss_prob),
            byzantine=bool(u[4] < self.byzantine_prob),
        )

    def draw_round(self, seed: int, round_index: int, devices: np.ndarray) -> RoundFaults:
        """The World's faults (stragglers, lost uploads) of a round's selected devices."""
        if not self.any:  # nothing to draw: skip K per-device streams
            none = np.zeros(np.shape(devices), dtype=bool).reshape(-1)
            return RoundFaults(straggler=none, message_loss=none.copy())
        draws = [self.draw(seed, round_index, int(d)) for d in devices]
        return RoundFaults(
            straggler=np.array([d.straggler for d in draws], dtype=bool).reshape(-1),
            message_loss=np.array([d.message_loss for d in draws], dtype=bool).reshape(-1),
        )


def attacked(update: list[np.ndarray], attack: str, scale: float, rng: np.random.Generator) -> list[np.ndarray]:
    """What a Byzantine device uploads instead of ``update`` (a new list of float32 arrays):
    ``sign_flip`` -scale·Δ, ``scaled`` scale·Δ, ``gaussian`` noise N(0, (scale·std(Δ))²) of each
    tensor's shape (drawn from ``rng``, tensor after tensor)."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}: one of {', '.join(ATTACKS)}")
    out = []
    for tensor in update:
        delta = np.asarray(tensor, dtype=np.float32)
        if attack == "sign_flip":
            out.append((-scale * delta).astype(np.float32))
        elif attack == "scaled":
            out.append((scale * delta).astype(np.float32))
        else:
            std = float(delta.std()) if delta.size else 0.0
            out.append(rng.normal(0.0, scale * std, size=delta.shape).astype(np.float32))
    return out
