"""User code for the seams ``policy=custom`` and ``radio.path_loss=custom``, as a user would write
it (imported by name by tests/control, tests/world and the bad-input corpus: keep this file name
unique)."""

from __future__ import annotations

import math

import numpy as np

from fedsim.control import Observation, Policy

# --- policies (policy.target=seam_examples:CLASS) ------------------------------------------


class FirstK(Policy):
    """Always devices 0..K-1 (they are always available in these tests), at ``power_fraction``
    of the radio's power."""

    def __init__(self, config, run, *, power_fraction: float = 1.0) -> None:
        super().__init__(config, run)
        self.power_fraction = power_fraction

    def decide(self, observation: Observation):
        k = self.operating_point.devices_per_round
        return self.at_operating_point(np.arange(k), observation, tx_power_w=self.power_fraction * observation.max_tx_power_w)


class Rotating(Policy):
    """K devices from a seeded per-round stream, skipping last round's; counts its rounds (state)."""

    def __init__(self, config, run) -> None:
        super().__init__(config, run)
        self.decided = 0
        self.last: list[int] = []

    def decide(self, observation: Observation):
        self.decided += 1
        pool = np.setdiff1d(observation.available_devices, self.last)
        rng = self.stream("rotating", observation.round)
        chosen = np.sort(rng.choice(pool, size=self.operating_point.devices_per_round, replace=False))
        self.last = chosen.tolist()
        return self.at_operating_point(chosen, observation)

    def state_dict(self):
        return {"decided": self.decided, "last": list(self.last)}

    def load_state_dict(self, state):
        self.decided, self.last = int(state["decided"]), list(state["last"])


class LowestIdle(FirstK):
    """Dispatches (fedasync / fedbuff) the idle device with the lowest index; counts its picks."""

    DISPATCHES = True

    def __init__(self, config, run, **kwargs) -> None:
        super().__init__(config, run, **kwargs)
        self.picks: list[int] = []

    def pick_idle(self, idle, rng, expected_rate_bps):
        k = int(np.argmin(idle))
        self.picks.append(int(idle[k]))
        return k


class AtMostFiveDevices(FirstK):
    """A policy with its own rule on the run configuration (checked when the config is)."""

    @classmethod
    def check_run(cls, run) -> None:
        from fedsim.errors import ConfigError

        if run.world.num_devices > 5:
            raise ConfigError("world.num_devices", run.world.num_devices, "at most 5 with policy.target=seam_examples:AtMostFiveDevices")


class ReturnsDeviceList(FirstK):
    """A policy whose decide returns a plain list of devices, not a RoundDecision."""

    def decide(self, observation: Observation):
        return [0, 1]


class NotAPolicy:
    def decide(self, observation):
        return None


# --- path-loss models (radio.path_loss_target=seam_examples:FUNCTION) ------------------------

SPEED_OF_LIGHT_M_S = 299_792_458.0


def free_space_db(distance_m, carrier_hz):
    """Friis, written as fedsim writes it (so its ledger is fedsim's free_space one, bit for bit)."""
    distance = np.maximum(np.asarray(distance_m, dtype=float), 1.0)
    return 20.0 * np.log10(distance) + 20.0 * np.log10(np.asarray(carrier_hz, dtype=float)) + 20.0 * math.log10(4.0 * math.pi / SPEED_OF_LIGHT_M_S)


def exponent_db(distance_m, carrier_hz, exponent: float = 4.0):
    """Green-QFL's d^-alpha with no reference loss, in dB."""
    return 10.0 * exponent * np.log10(np.maximum(distance_m, 1.0))


def blocked_db(distance_m, carrier_hz, rng, blockage_db: float = 20.0, p_blocked: float = 0.5):
    """exponent_db plus ``blockage_db`` on each link with probability ``p_blocked`` (from ``rng``)."""
    return exponent_db(distance_m, carrier_hz) + blockage_db * (rng.random(np.shape(distance_m)) < p_blocked)


def geometry_db(distance_m, carrier_hz, *, horizontal_m, vertical_m, h_bs_m, h_ut_m):
    """Records what the World gives a model by name (for the tests), and returns exponent_db."""
    geometry_db.seen = dict(horizontal_m=np.array(horizontal_m), vertical_m=np.array(vertical_m), h_bs_m=h_bs_m, h_ut_m=h_ut_m)
    return exponent_db(distance_m, carrier_hz)


def scalar_db(distance_m, carrier_hz):
    return 100.0


def nan_beyond_100m_db(distance_m, carrier_hz):
    return np.where(np.asarray(distance_m) > 100.0, np.nan, 60.0)


def negative_db(distance_m, carrier_hz):
    return exponent_db(distance_m, carrier_hz) - 1000.0


def complex_db(distance_m, carrier_hz):
    return np.asarray(distance_m) * (1 + 1j)


def raises_db(distance_m, carrier_hz):
    raise RuntimeError("table lookup out of range")
