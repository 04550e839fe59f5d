"""World.state_dict / load_state_dict: a World restored mid-run continues exactly as the original."""

import numpy as np
import pytest

from fedsim.config import RunConfig
from fedsim.workload import Workload
from fedsim.world import RoundPlan, World

WORKLOAD = Workload(params=1000, macs=10_000, activations=100, input_size=64)
MOBILITIES = {
    "static": {},
    "random_waypoint": {"mobility": {"kind": "random_waypoint"}},
    "uav_swarm": {"mobility": {"kind": "uav_swarm"}},
    "drone_routes": {"mobility": {"kind": "drone_routes"}},
}


def _world(overrides: dict) -> World:
    cfg = RunConfig.from_mapping({"world": {"num_devices": 4}, "devices": {"battery_j": 5.0}, "op": {"devices_per_round": 2}, **overrides})
    return World(cfg.world_config, WORKLOAD, seed=3)


def _round(world: World, r: int) -> tuple:
    """One round as the strategy runs it; what a ledger row would see of it."""
    seen = world.observe(r, csi_delay_rounds=2).channel_gain
    plan = RoundPlan(
        round=r, devices=np.array([0, 2]), local_iters=np.array([1, 1]), train_bits=np.array([8, 8]),
        uplink_bits=np.array([80_000, 80_000]), downlink_bits=32_000.0,
    )
    o = world.simulate_round(plan)
    return seen.tolist(), o.finish_s.tolist(), o.channel_gain.tolist(), o.battery_j.tolist(), o.position_m.tolist(), world.now_s


@pytest.mark.parametrize("mobility", list(MOBILITIES))
def test_a_restored_world_continues_like_the_original(mobility):
    original = _world(MOBILITIES[mobility])
    expected = [_round(original, r) for r in range(1, 7)]
    interrupted = _world(MOBILITIES[mobility])
    for r in range(1, 4):
        _round(interrupted, r)
    state = interrupted.state_dict()
    restored = _world(MOBILITIES[mobility])
    restored.load_state_dict(state)
    assert restored.now_s == interrupted.now_s > 0
    assert [_round(restored, r) for r in range(4, 7)] == expected[3:]


def test_world_state_is_plain_numpy_and_python():
    world = _world(MOBILITIES["random_waypoint"])
    _round(world, 1)

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        elif isinstance(value, list):
            for v in value:
                yield from leaves(v)
        else:
            yield value

    assert all(isinstance(v, (np.ndarray, int, float, str)) for v in leaves(world.state_dict()))


def test_a_state_of_another_world_is_refused():
    state = _world({"world": {"num_devices": 3}, "op": {"devices_per_round": 2}}).state_dict()
    with pytest.raises(ValueError, match="battery.level_j: saved shape"):
        _world({}).load_state_dict(state)
    with pytest.raises(ValueError, match="do not fit this world's mobility"):
        _world(MOBILITIES["random_waypoint"]).load_state_dict(_world({}).state_dict())
