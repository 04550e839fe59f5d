"""The control plane: built-in policies, the decision the World applies, and the policy group."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import fedsim
from fedsim.config import RunConfig
from fedsim.control import RoundDecision, build_policy
from fedsim.errors import ConfigError
from fedsim.workload import Workload
from fedsim.world import AccessConfig, RoundPlan, World, WorldConfig

WORKLOAD = Workload(params=20_000, macs=2e4, activations=200, input_size=64)
SMALL = {"rounds": 2, "world": {"num_devices": 8}, "op": {"devices_per_round": 3, "local_iters": 1}}


def _devices(result):
    return [(r["round"], r["device"]) for r in result.devices]


def _config(**extra) -> RunConfig:
    return RunConfig.from_mapping({**SMALL, **extra})


def _observe(config: RunConfig, round_index: int = 1):
    world = World(config.world_config, WORKLOAD, config.seed)
    return world, world.observe(round_index)


def test_round_robin_takes_turns_and_keeps_its_cursor_as_state():
    config = _config(policy={"name": "round_robin"})
    world, obs = _observe(config)
    policy = build_policy(config)
    assert policy.decide(obs).devices.tolist() == [0, 1, 2]
    assert policy.decide(world.observe(2)).devices.tolist() == [3, 4, 5]
    assert policy.decide(world.observe(3)).devices.tolist() == [0, 6, 7]  # wraps around
    state = policy.state_dict()
    fresh = build_policy(config)
    fresh.load_state_dict(state)
    assert fedsim.run(config.to_dict()).policy_state == {"next_device": 6}  # 2 rounds of 3 devices
    assert fresh.decide(world.observe(4)).devices.tolist() == policy.decide(world.observe(4)).devices.tolist()


def test_best_channel_picks_the_largest_expected_rates():
    config = _config(policy={"name": "best_channel"})
    _, obs = _observe(config)
    chosen = build_policy(config).decide(obs).devices
    expected = np.sort(np.argsort(-obs.expected_rate_bps())[:3])
    assert chosen.tolist() == expected.tolist()


def test_random_is_uniform_and_seeded_and_differs_from_the_default_stream():
    config = _config(policy={"name": "random"})
    _, obs = _observe(config)
    a = build_policy(config).decide(obs).devices
    b = build_policy(config).decide(obs).devices
    assert a.tolist() == b.tolist() and a.size == 3 and np.unique(a).size == 3


def test_fixed_policy_with_given_devices():
    config = _config(policy={"name": "fixed", "devices": [1, 4, 6]})
    _, obs = _observe(config)
    assert build_policy(config).decide(obs).devices.tolist() == [1, 4, 6]
    with pytest.raises(ConfigError, match="policy.devices"):
        _config(policy={"name": "fixed", "devices": [9]})
    # The list is the round's K devices: another count would train one K and record another.
    with pytest.raises(ConfigError, match=r"policy.devices=\[0, 1, 2, 3\] is not allowed: a list of op.devices_per_round=3"):
        _config(policy={"name": "fixed", "devices": [0, 1, 2, 3]})


def test_optimized_policy_reads_a_choice_file(tmp_path):
    choice = tmp_path / "choice.json"
    choice.write_text(json.dumps({"nbs": {"I": 2, "K": 4, "m": 6, "n": 12, "energy_j": 1.0, "rounds": 3.0}}))
    result = fedsim.run({**SMALL, "policy": {"name": "optimized", "choice_path": str(choice)}})
    rows = result.devices
    assert {(r["local_iters"], r["uplink_bits"], r["train_bits"]) for r in rows} == {(2, 6, 12)}
    assert len([r for r in rows if r["round"] == 1]) == 4
    with pytest.raises(ConfigError, match="policy.choice_path"):
        fedsim.run({**SMALL, "policy": {"name": "optimized", "choice_path": str(tmp_path / "missing.json")}})


@pytest.mark.parametrize("name", ["fixed", "random", "round_robin", "best_channel"])
def test_every_policy_runs_and_the_ledger_has_power_and_channel(name, tmp_path):
    result = fedsim.run({**SMALL, "policy": {"name": name}}, tmp_path)
    with open(tmp_path / "devices.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {float(r["tx_power_w"]) for r in rows} == {0.1}
    assert "channel" in rows[0]
    again = fedsim.run({**SMALL, "policy": {"name": name}})
    assert _devices(result) == _devices(again)  # same seed, same decisions


def test_the_world_applies_per_device_power_and_channels():
    config = WorldConfig.of(num_devices=4, access=AccessConfig(scheme="ofdma", resource_blocks=4))
    plan = dict(round=1, devices=np.array([0, 1]), local_iters=np.ones(2, int), train_bits=np.full(2, 8), uplink_bits=np.full(2, 1e4))
    full = World(config, WORKLOAD, 0).simulate_round(RoundPlan(**plan))
    low = World(config, WORKLOAD, 0).simulate_round(RoundPlan(**plan, tx_power_w=np.array([0.1, 0.01]), channel=np.array([3, 2])))
    assert low.tx_power_w.tolist() == [0.1, 0.01] and low.channel.tolist() == [3, 2]
    assert low.energy_uplink_j[1] == pytest.approx(0.01 * low.upload_s[1])
    assert full.channel.tolist() != [3, 2] or low.upload_s[1] > full.upload_s[1]


def test_a_decision_above_the_radio_power_is_one_line_error():
    config = _config()
    _, obs = _observe(config)
    bad = RoundDecision.build([0], tx_power_w=1.0, train_bits=8, uplink_bits=8, local_iters=1)
    with pytest.raises(ConfigError, match="decision.tx_power_w"):
        bad.check(obs)


def test_policy_group_composes_from_the_registry():
    assert fedsim.compose(["policy=best_channel"]).policy.name == "best_channel"
    with pytest.raises(ConfigError, match="policy.name"):
        RunConfig.from_mapping({"policy": {"name": "greedy"}})


def test_lm_recipe_is_validated_against_kernels():
    with pytest.raises(ConfigError, match=r"^lm\.bits=3 is not allowed"):
        RunConfig.from_mapping({"lm": {"bits": 3}})
    with pytest.raises(ConfigError, match=r"^radio\.tx_power_w="):
        RunConfig.from_mapping({"radio": {"tx_power_w": -1}})
