"""The round's clock moves in one step only where that is bit-for-bit the event-by-event replay."""

import numpy as np
import pytest

import fedsim.world._world as world_module
from fedsim.world import AccessConfig, DeviceConfig, MobilityConfig, RoundPlan, Workload, World, WorldConfig
from fedsim.world._clock import single_step_end_s

WORKLOAD = Workload(params=20_000, macs=2e4, activations=200, input_size=64)


def replay(now_s, first_s, times_s, last_s):
    """simpy's arithmetic: a timeout of (t - now) moves the clock to now + (t - now)."""
    for t in [first_s, *np.sort(times_s), last_s]:
        if t > now_s:
            now_s = now_s + (t - now_s)
    return now_s


def test_one_step_lands_where_the_replay_does_or_declines():
    rng = np.random.default_rng(0)
    declined = 0
    for _ in range(3000):
        now = float(rng.uniform(0, 1) * 10 ** rng.uniform(-3, 3))
        first = now + rng.exponential() * rng.choice([-1, 1])
        times = now * (1 + 10 ** rng.uniform(-2, 3, rng.integers(0, 6)) * rng.choice([-1, 1]))  # unsorted
        last = now + rng.exponential() * rng.choice([-1, 3])
        end = single_step_end_s(now, first, times, last)
        if end is None:
            declined += 1
        else:
            assert end == replay(now, first, times, last)  # exact, not approximately
            assert end == now or now + (end - now) == end  # and one timeout from now lands there
    assert 0 < declined < 3000  # both paths are exercised


def test_a_step_that_would_round_is_declined():
    now, t = 23.816824614314527, 312.64365149310976
    assert now + (t - now) != t
    none = np.array([])
    assert single_step_end_s(now, t, none, t) is None
    assert single_step_end_s(0.0, t, none, t) == t
    assert single_step_end_s(5.0, 5.0, none, 5.0) == 5.0
    assert single_step_end_s(5.0, 1.0, np.array([2.0, 1.5]), 3.0) == 5.0  # all in the past: the clock stays
    # a step that rounds in the middle of the replay: 23.8 -> 312.6 after a first step to 23.8
    assert single_step_end_s(1.0, now, np.array([t]), t) is None


@pytest.mark.parametrize("fields", [
    {"deadline_s": 0.05, "downlink_power_w": 20.0, "devices": DeviceConfig(battery_j=0.05, rx_power_w=0.05)},
    {"access": AccessConfig(scheme="tdma"), "waterfall_threshold": 2.0},
    {"mobility": MobilityConfig(kind="random_waypoint")},
])
def test_the_world_clock_is_the_event_by_event_clock(monkeypatch, fields):
    def run(one_step):
        if not one_step:
            monkeypatch.setattr(world_module, "single_step_end_s", lambda *times: None)
        w = World(WorldConfig.of(num_devices=40, **fields), WORKLOAD, seed=3)
        clocks = []
        for r in range(1, 12):
            devices = w.available_devices()
            k = devices.size
            w.simulate_round(RoundPlan(r, devices, np.full(k, 5), np.full(k, 8), np.full(k, 160_000.0), 640_000.0))
            clocks.append(w.now_s)
        monkeypatch.undo()
        return clocks

    fast, replayed = run(True), run(False)
    assert fast == replayed and fast[-1] > 0  # float equality: bit for bit
