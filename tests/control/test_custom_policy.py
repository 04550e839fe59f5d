"""policy=custom: a user's Policy subclass, named by policy.target, runs as a built-in does.

The user classes live in tests/seam_examples.py (importable by name); one test writes its module
into the directory the run starts in, as the tutorial does.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import fedsim
from fedsim.control import POLICY_NAMES, Policy, RoundDecision, build_policy
from fedsim.errors import ConfigError
from fedsim.federation import _wireless
from fedsim.federation._checkpoint import CHECKPOINT_FILE, load_checkpoint
from fedsim.ledger import DEVICES_FILE, ROUNDS_FILE

BASE = ["rounds=3", "world.num_devices=8", "op.devices_per_round=3", "op.local_iters=1", "model.hidden=[8]"]


def _run(tmp_path, name: str, *overrides: str):
    return fedsim.run(fedsim.compose([*BASE, *overrides]), tmp_path / name)


def _ledger_bytes(run_dir) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in (ROUNDS_FILE, DEVICES_FILE)}


def test_custom_is_an_option_of_the_policy_group_and_the_names_a_user_needs_are_exported():
    assert "custom" in POLICY_NAMES
    from fedsim.control import AUTO_CHANNEL, Observation, OperatingPoint, RoundOutcome  # noqa: F401

    config = fedsim.compose(["policy=custom", "policy.target=seam_examples:FirstK", "policy.kwargs={power_fraction: 0.25}"])
    policy = build_policy(config)
    assert type(policy).__name__ == "FirstK" and isinstance(policy, Policy) and policy.power_fraction == 0.25


def test_a_policy_that_picks_devices_0_to_k_minus_1_trains_exactly_those_at_its_power(tmp_path):
    result = _run(tmp_path, "first_k", "policy=custom", "policy.target=seam_examples:FirstK", "policy.kwargs={power_fraction: 0.5}")
    rows = result.devices
    assert [(r["round"], r["device"]) for r in rows] == [(r, d) for r in (1, 2, 3) for d in (0, 1, 2)]
    assert {r["tx_power_w"] for r in rows} == {0.05}  # half of radio.tx_power_w = 0.1 W
    assert result.summary["policy"] == "custom"


def test_a_custom_policy_naming_a_built_in_class_writes_the_built_in_ledger_byte_for_byte(tmp_path):
    builtin = _run(tmp_path, "builtin", "policy=best_channel")
    custom = _run(tmp_path, "custom", "policy=custom", "policy.target=fedsim.control._best_channel:BestChannelPolicy")
    assert _ledger_bytes(custom.output_dir) == _ledger_bytes(builtin.output_dir)
    first_k = _run(tmp_path, "first_k", "policy=custom", "policy.target=seam_examples:FirstK")
    assert _ledger_bytes(first_k.output_dir) != _ledger_bytes(builtin.output_dir)  # the policy is what decides


def test_a_module_in_the_current_directory_is_a_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nearest_policy_for_test.py").write_text(textwrap.dedent("""
        import numpy as np
        from fedsim.control import Policy

        class Nearest(Policy):
            def decide(self, observation):
                available = observation.available_devices
                order = np.argsort(observation.distance_m[available], kind="stable")
                return self.at_operating_point(np.sort(available[order[: self.operating_point.devices_per_round]]), observation)
    """))
    config = fedsim.compose([*BASE, "policy=custom", "policy.target=nearest_policy_for_test:Nearest"])
    result = fedsim.run(config, tmp_path / "run")
    from fedsim.workload import Workload
    from fedsim.world import World

    distance_m = World(config.world_config, Workload(params=100, macs=1e3, activations=10, input_size=8), config.seed).observe(1).distance_m
    nearest = sorted(np.argsort(distance_m, kind="stable")[:3].tolist())
    assert [(r["round"], r["device"]) for r in result.devices] == [(r, d) for r in (1, 2, 3) for d in nearest]  # static devices
    assert nearest != [0, 1, 2]  # not what an index order would give


def test_the_same_seed_gives_the_same_ledger_and_another_seed_another(tmp_path):
    a = _run(tmp_path, "a", "policy=custom", "policy.target=seam_examples:Rotating")
    b = _run(tmp_path, "b", "policy=custom", "policy.target=seam_examples:Rotating")
    c = _run(tmp_path, "c", "policy=custom", "policy.target=seam_examples:Rotating", "seed=1")
    assert _ledger_bytes(a.output_dir) == _ledger_bytes(b.output_dir)
    picks = lambda result: [(r["round"], r["device"]) for r in result.devices]  # noqa: E731
    assert picks(a) != picks(c)
    by_round = {r: {row["device"] for row in a.devices if row["round"] == r} for r in (1, 2, 3)}
    assert not by_round[1] & by_round[2] and not by_round[2] & by_round[3]  # it skips last round's devices
    assert a.policy_state == {"decided": 3, "last": sorted(by_round[3])}


class _Killed(BaseException):
    """A simulated kill -9 (BaseException: nothing in fedsim may catch it)."""


def test_a_custom_policys_state_is_checkpointed_and_a_killed_run_resumes_to_the_same_ledger(tmp_path, monkeypatch):
    overrides = ["rounds=4", "policy=custom", "policy.target=seam_examples:Rotating"]
    reference = _run(tmp_path, "reference", *overrides)
    configure = _wireless.WirelessStrategy.configure_train

    def configure_train(self, server_round, *args):
        if server_round == 3:
            raise _Killed
        return configure(self, server_round, *args)

    with monkeypatch.context() as patch:
        patch.setattr(_wireless.WirelessStrategy, "configure_train", configure_train)
        with pytest.raises(_Killed):
            _run(tmp_path, "killed", *overrides)
    checkpoint = load_checkpoint(tmp_path / "killed" / CHECKPOINT_FILE)
    assert checkpoint.round == 2 and checkpoint.policy["decided"] == 2
    result = fedsim.resume(tmp_path / "killed")
    assert _ledger_bytes(tmp_path / "killed") == _ledger_bytes(reference.output_dir)
    assert result.policy_state == reference.policy_state and result.policy_state["decided"] == 4


def test_an_asynchronous_run_dispatches_whom_the_custom_policy_picks(tmp_path):
    result = fedsim.run(fedsim.compose([
        "rounds=4", "world.num_devices=8", "op.devices_per_round=2", "op.local_iters=1", "model.hidden=[8]", "strategy=fedbuff", "strategy.concurrency=2",
        "strategy.buffer_size=2", "policy=custom", "policy.target=seam_examples:LowestIdle"]), tmp_path / "run")
    # Every device is always online and idle again when it uploads: the lowest two ever train.
    assert {row["device"] for row in result.devices} == {0, 1}
    random = fedsim.run(fedsim.compose([
        "rounds=4", "world.num_devices=8", "op.devices_per_round=2", "op.local_iters=1", "model.hidden=[8]", "strategy=fedbuff", "strategy.concurrency=2",
        "strategy.buffer_size=2", "policy=random"]), tmp_path / "random")
    assert len({row["device"] for row in random.devices}) > 2


def test_a_custom_policy_that_does_not_dispatch_is_refused_under_an_asynchronous_strategy():
    with pytest.raises(ConfigError, match=r"policy='custom' is not allowed: .*or custom with a policy.target whose DISPATCHES is True"):
        fedsim.compose(["strategy=fedbuff", "policy=custom", "policy.target=seam_examples:FirstK"])


def test_the_custom_classs_own_rules_run_when_the_config_is_checked():
    with pytest.raises(ConfigError, match=r"world.num_devices=8 is not allowed: at most 5"):
        fedsim.compose([*BASE, "policy=custom", "policy.target=seam_examples:AtMostFiveDevices"])
    assert fedsim.compose(["world.num_devices=5", "op.devices_per_round=2", "policy=custom",
                           "policy.target=seam_examples:AtMostFiveDevices"]).policy.target.endswith("AtMostFiveDevices")


@pytest.mark.parametrize(("overrides", "fragment"), [
    (["policy=custom"], "policy.target=None is not allowed: MODULE:CLASS naming a subclass of fedsim.control.Policy"),
    (["policy=custom", "policy.target=seam_examples:NotAPolicy"], "a subclass of fedsim.control.Policy, not the class NotAPolicy"),
    (["policy=custom", "policy.target=seam_examples:free_space_db"], "a subclass of fedsim.control.Policy, not a function"),
    (["policy=custom", "policy.target=fedsim.control:Policy"], "a Policy subclass that defines decide"),
    (["policy=custom", "policy.target=seam_examples:FirstK", "policy.kwargs={power: 1}"],
     "policy.kwargs={'power': 1} is not allowed: keyword arguments FirstK(config, run, ...) accepts (got an unexpected keyword argument 'power')"),
    (["policy=best_channel", "policy.target=seam_examples:NotAPolicy"], "policy.target='seam_examples:NotAPolicy' is not allowed"),
])
def test_a_bad_custom_policy_is_one_config_error_on_its_key(overrides, fragment):
    with pytest.raises(ConfigError) as error:
        fedsim.compose(overrides)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_a_target_without_policy_custom_is_checked_and_then_only_warned_about(capfd):
    config = fedsim.compose(["policy=best_channel", "policy.target=seam_examples:FirstK"])
    assert type(build_policy(config)).__name__ == "BestChannelPolicy"
    assert "policy.target='seam_examples:FirstK' has no effect here: it applies to policy=custom" in capfd.readouterr().err


def test_a_decision_a_custom_policy_returns_is_checked_like_a_built_ins():
    config = fedsim.compose([*BASE, "policy=custom", "policy.target=seam_examples:FirstK", "policy.kwargs={power_fraction: 2.0}"])
    from fedsim.workload import Workload
    from fedsim.world import World

    world = World(config.world_config, Workload(params=100, macs=1e3, activations=10, input_size=8), config.seed)
    observation = world.observe(1)
    decision = build_policy(config).decide(observation)
    assert isinstance(decision, RoundDecision) and np.allclose(decision.tx_power_w, 0.2)
    with pytest.raises(ConfigError, match=r"decision.tx_power_w=\[0.2, 0.2, 0.2\] is not allowed: powers in \(0, radio.tx_power_w=0.1\] W"):
        decision.check(observation)
