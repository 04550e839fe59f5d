"""URLLC: finite-blocklength rates, the exact rate -> block/power mapping, the cell's queues and
deadlines, the oracle, the agents' seeding and the Gymnasium environment."""

from __future__ import annotations

import importlib
import math

import gymnasium
import numpy as np
import pytest

from fedsim.control._urllc_control import UrllcOracle, user_features
from fedsim.errors import ConfigError
from fedsim.world import UrllcCell, UrllcConfig
from fedsim.world._fbl import fbl_rate, fbl_snr_for_rate
from fedsim.world._rb_mapping import allocate_blocks, brute_force_allocation, user_power_w


def test_finite_blocklength_rate_by_hand_and_its_inverse():
    # γ = 1 (0 dB), n = 100, ε = 1e-3: C = 1, V = 0.75, Q⁻¹(1e-3) = 3.0902
    expected = 1.0 - math.sqrt(0.75 / 100) * 3.090232 * math.log2(math.e)
    assert fbl_rate(1.0, 100, 1e-3) == pytest.approx(expected, rel=1e-6)
    # long blocks approach Shannon; short ones pay the dispersion
    assert fbl_rate(3.0, 1e9, 1e-5) == pytest.approx(2.0, abs=1e-3)
    assert fbl_rate(3.0, 45, 1e-5) < fbl_rate(3.0, 450, 1e-5) < 2.0
    snr = fbl_snr_for_rate([0.3, 1.0, 4.0], 45, 1e-5)
    np.testing.assert_allclose(fbl_rate(snr, 45, 1e-5), [0.3, 1.0, 4.0], rtol=1e-9)
    assert fbl_snr_for_rate(0.0, 45, 1e-5) == 0.0


@pytest.mark.parametrize("trial", range(6))
def test_least_power_mapping_matches_brute_force(trial):
    rng = np.random.default_rng(trial)
    users, blocks = 4, 7
    bits = rng.integers(0, 4, users) * 256.0
    gain = 10.0 ** (-rng.uniform(9.0, 11.0, users))
    kw = dict(blocks=blocks, noise_w=1e-15, channel_uses=45.0, epsilon=1e-5)
    allocation = allocate_blocks(bits, gain, max_power_w=1e9, **kw)
    best_blocks, best_power = brute_force_allocation(bits, gain, **kw)
    assert allocation.total_power_w == pytest.approx(best_power, rel=1e-12)
    np.testing.assert_array_equal(allocation.blocks, best_blocks)


def test_user_power_is_convex_and_decreasing_in_blocks():
    powers = [user_power_w(512.0, m, 1e-10, 1e-15, 45.0, 1e-5) for m in range(1, 9)]
    steps = np.diff(powers)
    assert np.all(steps < 0) and np.all(np.diff(steps) > 0)


def test_cell_serves_queues_and_drops_late_packets_by_hand(tmp_path):
    trace = tmp_path / "trace.csv"
    # user 0: one packet in slot 0; user 1: two packets in slot 0 (0.25 ms slots)
    trace.write_text("time_s,user\n0.0001,0\n0.0001,1\n0.0002,1\n")
    cfg = UrllcConfig(users=2, resource_blocks=4, arrival="trace", trace_path=str(trace), decoding_error=1e-9)
    cell = UrllcCell(cfg, seed=0)
    cell.step(np.zeros(2, dtype=np.int64))  # slot 0: nothing queued yet; the trace's arrivals land
    np.testing.assert_array_equal(cell.queue_lengths(), [1, 2])
    np.testing.assert_array_equal(cell.head_age_slots(), [1, 1])
    out = cell.step(np.array([1, 0]))  # user 0 served one slot after arrival: 1 slot of latency
    np.testing.assert_array_equal(out.reliable, [1, 0])
    assert out.latency_s.tolist() == [pytest.approx(0.25e-3)]
    lost = []
    for _ in range(4):  # user 1 never served: its packets expire after D = 4 slots
        lost.append(cell.step(np.array([0, 0])).late.copy())
    assert np.sum(lost, axis=0).tolist() == [0, 2]
    assert out.power_w > 0 and out.allocation.blocks.tolist()[1] == 0


def test_oracle_waits_for_good_channels_but_never_past_the_deadline():
    cell = UrllcCell(UrllcConfig(), seed=0)
    wait = UrllcOracle(cell).thresholds()
    assert np.all(np.isinf(wait[:, -1]))  # at the deadline: always send
    assert np.all(np.diff(wait[:, :-1], axis=1) >= 0)  # the older the packet, the more waiting costs
    features = user_features(cell)
    assert features.shape == (8, 5) and features.dtype == np.float32


@pytest.mark.parametrize(
    "values, key",
    [
        ({"decoding_error": 1.5}, "decoding_error"),
        ({"decoding_error": 0.0}, "decoding_error"),
        ({"deadline_s": 0.0}, "deadline_s"),
        ({"users": 20, "resource_blocks": 16}, "users"),
        ({"arrival": "trace", "trace_path": "/nonexistent/trace.csv"}, "trace_path"),
        ({"arrival": "bursty"}, "arrival"),
    ],
)
def test_bad_urllc_values_are_one_line_errors(values, key):
    with pytest.raises(ConfigError) as err:
        UrllcConfig(**values)
    assert err.value.key == key and "\n" not in str(err.value)


def test_urllc_cli_errors_name_the_section(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "fedsim", "run", "urllc.decoding_error=2", f"hydra.run.dir={tmp_path}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["fedsim: error: urllc.decoding_error=2.0 is not allowed: a number in (0, 1)"]


def test_urllc_env_passes_the_gymnasium_checker():
    importlib.import_module("fedsim.envs")
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make("fedsim/URLLC-v0")
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=3)
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(obs, again)
    total_lost = 0
    for _ in range(50):  # send everything every slot: nothing is late
        obs, reward, terminated, truncated, info = env.step(np.full(8, 3))
        total_lost += info["lost"]
    assert total_lost == 0 and reward <= 0


def test_urllc_env_refuses_non_integer_actions_and_a_step_after_the_episode():
    importlib.import_module("fedsim.envs")
    env = gymnasium.make("fedsim/URLLC-v0", episode_slots=2).unwrapped
    env.reset(seed=1)
    for action in (np.full(8, 1.5), np.full(8, 1.0), np.full(8, np.nan), np.full(7, 1), np.full(8, 4), [True] * 8, "abc", None):
        with pytest.raises(ValueError, match=r"is not allowed: 8 integers in \[0, 4\)"):
            env.step(action)
    _, _, _, truncated, _ = env.step([1] * 8)
    _, _, _, truncated, _ = env.step(np.full(8, 1, dtype=np.int32))
    assert truncated
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\) after the episode ended"):
        env.step(np.full(8, 1))


def test_urllc_agents_and_gan_are_seeded():
    pytest.importorskip("torch")
    from fedsim.rl import ConditionGAN, UrllcAgent

    cfg = UrllcConfig()
    a = UrllcAgent(0).deploy(cfg, 300, epsilon=0.2, epsilon_decay_slots=300, seed=1)
    b = UrllcAgent(0).deploy(cfg, 300, epsilon=0.2, epsilon_decay_slots=300, seed=1)
    np.testing.assert_array_equal(a.power_w, b.power_w)
    real = np.random.default_rng(0).normal([6.0, 0.0], [0.3, 0.6], size=(200, 2))
    g1 = ConditionGAN(2, seed=0).fit(real, steps=100).sample(50)
    g2 = ConditionGAN(2, seed=0).fit(real, steps=100).sample(50)
    np.testing.assert_array_equal(g1, g2)
