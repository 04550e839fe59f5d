"""The discrete-event round: deadlines, batteries, access schemes, packet errors, the clock."""

import dataclasses

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.world import (
    AccessConfig,
    RadioConfig,
    DeviceConfig,
    MobilityConfig,
    RoundPlan,
    Workload,
    World,
    WorldConfig,
)
from fedsim.world._world import upload_schedule

WORKLOAD = Workload(params=20_000, macs=2e4, activations=200, input_size=64)


def plan(round_index, devices, bits=8 * 20_000, iters=5, downlink_bits=0.0):
    devices = np.asarray(devices)
    k = devices.size
    return RoundPlan(round_index, devices, np.full(k, iters), np.full(k, 8), np.full(k, float(bits)), downlink_bits)


N0 = RadioConfig().noise_psd_w_hz  # -174 dBm/Hz


def world(seed=0, **fields):
    return World(WorldConfig.of(**{"num_devices": 10, **fields}), WORKLOAD, seed)


def test_defaults_price_each_upload_at_the_full_band_rate():
    w = world()
    out = w.simulate_round(plan(1, range(10)))
    rate = 10e6 * np.log2(1 + 0.1 * out.channel_gain / (10e6 * N0))
    assert np.allclose(out.upload_s, 8 * 20_000 / rate)
    assert out.delivered.all() and set(out.drop_reason) == {""}
    assert out.duration_s == pytest.approx(np.max(out.compute_s + out.upload_s))


def test_the_clock_advances_across_rounds():
    w = world()
    first = w.simulate_round(plan(1, range(10)))
    second = w.simulate_round(plan(2, range(10)))
    assert first.start_s == 0.0
    assert second.start_s == pytest.approx(first.duration_s)
    assert w.now_s == pytest.approx(first.duration_s + second.duration_s)


def test_a_tight_deadline_drops_stragglers():
    free = world().simulate_round(plan(1, range(10)))
    deadline = float(np.median(free.compute_s + free.upload_s))
    out = world(deadline_s=deadline).simulate_round(plan(1, range(10)))
    late = (free.compute_s + free.upload_s) > deadline
    assert late.any() and not late.all()
    assert np.array_equal(out.drop_reason == "deadline", late)
    assert out.delivered.sum() == 10 - late.sum()
    assert out.duration_s == pytest.approx(deadline)
    # Stragglers stop transmitting at the deadline: they spend less than a full upload.
    assert np.all(out.energy_uplink_j[late] < free.energy_uplink_j[late])


def test_tdma_takes_longer_than_fdma_and_orthogonal_for_the_same_payloads():
    """Equal links (a ring formation, no fading): TDMA queues K uploads of airtime a at the full
    band (K·a); FDMA sends all K at once on B/K, which takes less than K·a because the narrower
    band has K times the SNR. (With very unequal links FDMA's slowest device can lose to TDMA.)"""
    durations = {}
    for scheme in ("orthogonal", "fdma", "tdma"):
        w = world(
            access=AccessConfig(scheme=scheme),
            mobility=MobilityConfig(kind="uav_swarm", formation="ring", spacing_m=50.0, leader_speed_mps=0.0),
            radio=RadioConfig(path_loss="free_space", fading="none"),
        )
        out = w.simulate_round(plan(1, range(10)))
        durations[scheme] = out.duration_s - out.compute_s.max()
    assert durations["tdma"] > durations["fdma"] > durations["orthogonal"]
    assert durations["tdma"] == pytest.approx(10 * durations["orthogonal"])


def test_tdma_serves_one_device_at_a_time_in_order_of_readiness():
    ready = np.array([0.0, 0.0, 5.0, 1.0])
    air = np.array([2.0, 1.0, 1.0, 3.0])
    start, end = upload_schedule("tdma", ready, air, np.arange(4))
    # FIFO: device 0 [0,2], device 1 [2,3], device 3 [3,6], device 2 [6,7].
    assert start.tolist() == [0.0, 2.0, 6.0, 3.0]
    assert end.tolist() == [2.0, 3.0, 7.0, 6.0]


def test_ofdma_gives_each_device_its_own_resource_block():
    w = world(access=AccessConfig(scheme="ofdma", resource_blocks=12))
    out = w.simulate_round(plan(1, range(10)))
    assert out.delivered.all()
    with pytest.raises(ConfigError, match="access.resource_blocks"):
        world(access=AccessConfig(scheme="ofdma", resource_blocks=4)).simulate_round(plan(1, range(10)))


def test_packet_errors_follow_the_waterfall_model():
    rounds = [world(waterfall_threshold=50.0).simulate_round(plan(r, range(10))) for r in range(1, 30)]
    reasons = np.concatenate([o.drop_reason for o in rounds])
    gains = np.concatenate([o.channel_gain for o in rounds])
    errors = reasons == "packet_error"
    assert 0 < errors.mean() < 1
    # Weak channels fail more often.
    assert gains[errors].mean() < gains[~errors].mean()
    assert not any((o.drop_reason == "packet_error").any() for o in [world().simulate_round(plan(1, range(10)))])


def test_an_empty_battery_drops_the_update_and_removes_the_device():
    mains = world()
    spent = [mains.simulate_round(plan(r, [0])).energy_j for r in (1, 2, 3)]
    w = world(devices=DeviceConfig(battery_j=spent[0] + spent[1] + 0.5 * spent[2]))
    rounds = [w.simulate_round(plan(r, [0] if 0 in w.available_devices() else [])) for r in range(1, 5)]
    reasons = [list(o.drop_reason) for o in rounds]
    assert reasons[0] == [""] and reasons[1] == [""]
    assert reasons[2] == ["battery"]  # ran dry during the third round
    assert 0 not in w.available_devices()
    assert reasons[3] == []  # no longer selectable
    assert rounds[2].battery_j[0] == 0.0


def test_harvesting_recharges_batteries():
    w = world(devices=DeviceConfig(battery_j=1e-3, harvest_w=1e-3))
    out = w.simulate_round(plan(1, [0]))
    assert out.battery_j[0] == pytest.approx(min(1e-3, 1e-3 - out.energy_j + 1e-3 * out.duration_s))


def test_the_downlink_broadcast_runs_at_the_worst_devices_rate():
    w = world(downlink_power_w=1.0, devices=DeviceConfig(rx_power_w=0.05))
    out = w.simulate_round(plan(1, range(10), downlink_bits=32 * 20_000))
    gains = out.channel_gain
    worst = 10e6 * np.log2(1 + 1.0 * gains.min() / (10e6 * N0))
    assert out.download_s == pytest.approx(32 * 20_000 / worst)
    assert np.allclose(out.energy_download_j, 0.05 * out.download_s)
    assert np.allclose(out.upload_start_s, out.download_s + out.compute_s)


def test_cmos_compute_matches_yang_et_al():
    # kappa C D f^2 with C = 2e4 cycles/sample, D = 500 samples, f = 1 GHz: 1.0 mJ and 10 ms.
    cfg = WorldConfig.of(num_devices=2, devices=DeviceConfig(compute="cmos", cycles_per_sample=(2e4, 2e4), cpu_hz=1e9))
    cfg = dataclasses.replace(cfg, batch_size=500)
    out = World(cfg, WORKLOAD, 0).simulate_round(plan(1, [0, 1], iters=1))
    assert np.allclose(out.energy_compute_j, 1.0e-3) and np.allclose(out.compute_s, 10e-3)


def test_random_waypoint_moves_devices_and_a_swarm_reports_propulsion():
    w = world(mobility=MobilityConfig(kind="random_waypoint", speed_mps=(5.0, 5.0)), macs_per_s=1e6)
    before = w.positions_m
    w.simulate_round(plan(1, range(10)))
    assert not np.allclose(before, w.positions_m)

    swarm = world(
        mobility=MobilityConfig(kind="uav_swarm", spacing_m=30.0, leader_speed_mps=10.2, gust_sigma_m=1.0),
        radio=RadioConfig(path_loss="air_to_air", fading="rician", antenna="parabolic", pointing_sigma_deg=2.0),
    )
    out = swarm.simulate_round(plan(1, range(10)))
    assert out.position_m.shape == (10, 3) and np.allclose(out.position_m[:, 2], 100.0, atol=10)
    # Near the power-minimising speed (~10.2 m/s, ~126 W), times the round's duration.
    assert np.allclose(out.energy_propulsion_j, 126.0 * out.duration_s, rtol=0.01)
    assert out.energy_j < out.energy_propulsion_j.sum()


def test_same_seed_same_rounds_and_selection_independence():
    a = world(seed=3, deadline_s=0.01, waterfall_threshold=20.0)
    b = world(seed=3, deadline_s=0.01, waterfall_threshold=20.0)
    for r in range(1, 4):
        oa, ob = a.simulate_round(plan(r, range(10))), b.simulate_round(plan(r, range(10)))
        assert np.array_equal(oa.drop_reason, ob.drop_reason) and np.array_equal(oa.finish_s, ob.finish_s)
    solo = world(seed=3).simulate_round(plan(1, [4]))
    full = world(seed=3).simulate_round(plan(1, range(10)))
    assert solo.channel_gain[0] == full.channel_gain[4]


def test_bad_world_values_fail_with_the_key():
    for fields, key in (
        ({"deadline_s": 0.0}, "deadline_s"),
        ({"bandwidth_hz": 0.0}, "bandwidth_hz"),
        ({"devices": None}, "devices"),
    ):
        with pytest.raises(ConfigError, match=f"^{key}="):
            WorldConfig.of(**fields)
    with pytest.raises(ConfigError, match="^battery_j="):
        DeviceConfig(battery_j=-1.0)
