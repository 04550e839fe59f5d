import re
from pathlib import Path

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream
from fedsim.world import (
    QnnEnergyModel,
    RoundOutcome,
    RoundPlan,
    Workload,
    World,
    WorldConfig,
)
from fedsim.world._link import shannon_rate_bps
from fedsim.world._mobility import distances_to_bs, place_uniform_square
from fedsim.world._pathloss import path_gain

WORKLOAD = Workload.green_qfl_paper()
D = WORKLOAD.params


def make_plan(round_, devices, iters=5, train_bits=16, uplink_precision=8):
    devices = np.asarray(devices)
    k = devices.size
    return RoundPlan(
        round=round_,
        devices=devices,
        local_iters=np.full(k, iters),
        train_bits=np.full(k, train_bits),
        uplink_bits=np.full(k, D * uplink_precision, dtype=float),
    )


ARRAY_FIELDS = (
    "devices",
    "compute_s",
    "upload_s",
    "energy_compute_j",
    "energy_uplink_j",
    "delivered",
    "channel_gain",
    "distance_m",
)


@pytest.mark.parametrize(
    ("key", "kwargs"),
    [
        ("num_devices", {"num_devices": 0}),
        ("num_devices", {"num_devices": 2.5}),
        ("area_side_m", {"area_side_m": 0.0}),
        ("bs_position_m", {"bs_position_m": (1.0,)}),
        ("tx_power_w", {"tx_power_w": -0.1}),
        ("tx_power_w", {"tx_power_w": float("nan")}),
        ("bandwidth_hz", {"bandwidth_hz": 0}),
        ("noise_psd_dbm_hz", {"noise_psd_dbm_hz": 5.0}),
        ("path_loss_exponent", {"path_loss_exponent": -2.0}),
        ("macs_per_s", {"macs_per_s": 0.0}),
    ],
)
def test_world_config_validation_names_the_key(key, kwargs):
    with pytest.raises(ConfigError, match=re.escape(key)) as info:
        WorldConfig.of(**kwargs)
    assert info.value.key == key


def test_placement_uses_named_stream_and_corner_bs():
    world = World(WorldConfig.of(num_devices=30), WORKLOAD, seed=7)
    expected = place_uniform_square(30, 500.0, numpy_stream(7, "placement"))
    np.testing.assert_array_equal(world.positions_m, expected)
    np.testing.assert_array_equal(world.distances_m, distances_to_bs(expected, (0.0, 0.0)))
    assert world.positions_m.shape == (30, 2)


def test_same_seed_same_outcome():
    plan = make_plan(3, [0, 4, 7, 11])
    a = World(WorldConfig.of(), WORKLOAD, seed=11).simulate_round(plan)
    b = World(WorldConfig.of(), WORKLOAD, seed=11).simulate_round(plan)
    for name in ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.duration_s == b.duration_s and a.energy_j == b.energy_j


def test_different_round_different_fading():
    world = World(WorldConfig.of(), WORKLOAD, seed=11)
    a = world.simulate_round(make_plan(0, [0, 1, 2]))
    b = world.simulate_round(make_plan(1, [0, 1, 2]))
    assert not np.array_equal(a.channel_gain, b.channel_gain)
    np.testing.assert_array_equal(a.distance_m, b.distance_m)


def test_fading_independent_of_selection():
    world = World(WorldConfig.of(), WORKLOAD, seed=2)
    alone = world.simulate_round(make_plan(5, [3]))
    crowd = world.simulate_round(make_plan(5, np.arange(10)))
    assert crowd.channel_gain[3] == alone.channel_gain[0]
    assert crowd.energy_uplink_j[3] == alone.energy_uplink_j[0]


def test_outcome_follows_the_models():
    cfg = WorldConfig.of()
    world = World(cfg, WORKLOAD, seed=4)
    plan = RoundPlan(
        round=2,
        devices=np.array([1, 5, 9]),
        local_iters=np.array([1, 2, 3]),
        train_bits=np.array([32, 16, 8]),
        uplink_bits=np.array([D * 32, D * 8, D * 1], dtype=float),
    )
    out = world.simulate_round(plan)
    e_train = QnnEnergyModel().train_iteration_energy(np.array([32, 16, 8]), WORKLOAD)
    np.testing.assert_allclose(out.energy_compute_j, [1, 2, 3] * e_train, rtol=1e-15)
    # One local iteration = 32 samples x 3 forward-passes' worth of MACs at 1e10 MAC/s.
    np.testing.assert_allclose(out.compute_s, np.array([1, 2, 3]) * 32 * 3 * 4.05e7 / 1e10)
    gain = numpy_stream(4, "fading", 2).exponential(size=20) * path_gain(world.distances_m, 4.0)
    np.testing.assert_array_equal(out.channel_gain, gain[[1, 5, 9]])
    rate = shannon_rate_bps(10e6, 0.1, gain[[1, 5, 9]], cfg.radio.noise_psd_w_hz)
    np.testing.assert_allclose(out.upload_s, plan.uplink_bits / rate, rtol=1e-12)
    np.testing.assert_allclose(out.energy_uplink_j, 0.1 * plan.uplink_bits / rate, rtol=1e-12)
    assert out.delivered.dtype == bool and out.delivered.all()
    assert out.duration_s == pytest.approx(np.max(out.compute_s + out.upload_s))
    assert out.energy_j == pytest.approx(out.energy_compute_j.sum() + out.energy_uplink_j.sum())


@pytest.mark.parametrize("everyone", [True, False])
def test_a_round_prices_each_device_bit_for_bit_as_the_link_functions_do(everyone):
    """The round's fused arithmetic (rates, packet errors, the broadcast, compute priced once
    where every device trains alike) gives exactly the bits of the link functions."""
    from fedsim.world._link import broadcast_time_s, packet_error_rate

    workload = Workload(params=20_000, macs=2e4, activations=200, input_size=64)
    cfg = WorldConfig.of(num_devices=40, waterfall_threshold=20.0, downlink_power_w=1.0, rx_power_w=0.05)
    world = World(cfg, workload, seed=5)
    radio, psd = cfg.radio, cfg.radio.noise_psd_with_figure_w_hz
    for r in (1, 2, 3):
        devices = np.arange(40) if everyone else np.array([2, 7, 11, 30, 39])
        k = devices.size
        iters = np.full(k, 3) if r != 2 else np.arange(1, k + 1)
        bits = np.full(k, 8) if r != 3 else np.arange(k) % 32 + 1
        plan = RoundPlan(r, devices, iters, bits, np.full(k, 160_000.0), 640_000.0)
        t0 = world.now_s
        horizontal, vertical, _ = world.motion.geometry()
        gain = (world.channel.large_scale_gain(horizontal, vertical, r) * numpy_stream(5, "fading", r).standard_exponential(40))[devices]
        out = world.simulate_round(plan)
        np.testing.assert_array_equal(out.channel_gain, gain)
        assert out.download_s == broadcast_time_s(640_000.0, shannon_rate_bps(radio.bandwidth_hz, 1.0, gain, psd))
        seconds, joules = world.compute_cost(devices, iters, bits)
        np.testing.assert_array_equal(out.compute_s, seconds)
        np.testing.assert_array_equal(out.energy_compute_j, joules)
        np.testing.assert_array_equal(out.energy_download_j, np.full(k, 0.05 * out.download_s))
        ready = t0 + out.download_s + seconds
        np.testing.assert_array_equal(out.upload_start_s, ready)
        airtime = plan.uplink_bits / shannon_rate_bps(radio.bandwidth_hz, radio.tx_power_w, gain, psd)
        np.testing.assert_array_equal(out.finish_s, ready + airtime)
        np.testing.assert_array_equal(out.upload_s, (ready + airtime) - ready)
        np.testing.assert_array_equal(out.energy_uplink_j, radio.tx_power_w * out.upload_s)
        q = packet_error_rate(radio.tx_power_w, gain, radio.bandwidth_hz, 20.0, noise_psd_w_hz=psd)
        corrupted = numpy_stream(5, "packet-error", r).random(40)[devices] < q
        assert 0 < corrupted.sum() < k or not everyone
        assert out.drop_reason.tolist() == np.where(corrupted, "packet_error", "").tolist()
        np.testing.assert_array_equal(out.delivered, ~corrupted)
        for name in ("tx_power_w", "compute_s", "energy_compute_j", "energy_download_j", "energy_propulsion_j", "upload_start_s"):
            values = getattr(out, name)
            assert values.shape == (k,) and values.dtype == float and not values.flags.writeable, name
        np.testing.assert_array_equal(out.tx_power_w, np.full(k, radio.tx_power_w))
        np.testing.assert_array_equal(out.energy_propulsion_j, np.zeros(k))


def test_quarter_payload_quarter_uplink_energy():
    world = World(WorldConfig.of(), WORKLOAD, seed=9)
    full = world.simulate_round(make_plan(1, [0, 2, 4], uplink_precision=32))
    eight = world.simulate_round(make_plan(1, [0, 2, 4], uplink_precision=8))
    np.testing.assert_allclose(eight.energy_uplink_j, full.energy_uplink_j / 4, rtol=1e-12)
    np.testing.assert_allclose(eight.upload_s, full.upload_s / 4, rtol=1e-12)


def test_empty_round():
    world = World(WorldConfig.of(), WORKLOAD, seed=0)
    out = world.simulate_round(make_plan(0, np.array([], dtype=int)))
    assert isinstance(out, RoundOutcome)
    assert out.duration_s == 0.0 and out.energy_j == 0.0


def test_plan_validation():
    world = World(WorldConfig.of(num_devices=5), WORKLOAD, seed=0)
    with pytest.raises(ConfigError, match="plan.devices"):
        world.simulate_round(make_plan(0, [1, 5]))
    with pytest.raises(ConfigError, match="plan.devices"):
        make_plan(0, [1, 1])
    with pytest.raises(ConfigError, match="op.train_bits"):
        make_plan(0, [1], train_bits=0)
    with pytest.raises(ConfigError, match="plan.local_iters"):
        make_plan(0, [1], iters=0)
    with pytest.raises(ConfigError, match="plan.uplink_bits"):
        RoundPlan(round=0, devices=[0, 1], local_iters=[1, 1], train_bits=[8, 8], uplink_bits=[1.0])


def test_plan_arrays_are_frozen():
    plan = make_plan(0, [0, 1])
    with pytest.raises(ValueError):
        plan.devices[0] = 3


def test_expected_uplink_energy_per_bit_matches_direct_average():
    cfg = WorldConfig.of(num_devices=6)
    world = World(cfg, WORKLOAD, seed=3)
    weights = np.array([1.0, 2.0, 3.0, 0.0, 1.0, 1.0])
    got = world.expected_uplink_energy_per_bit(weights, drops=500, seed=12)
    fading = numpy_stream(12, "uplink_energy_mc").exponential(size=500)
    h = fading[:, None] * path_gain(world.distances_m, 4.0)[None, :]
    per_bit = 0.1 / (10e6 * np.log2(1 + 0.1 * h / (10e6 * cfg.radio.noise_psd_w_hz)))
    assert got == pytest.approx(per_bit.mean(axis=0) @ (weights / weights.sum()), rel=1e-12)
    uniform = world.expected_uplink_energy_per_bit(drops=500, seed=12)
    assert uniform == pytest.approx(per_bit.mean(), rel=1e-12)


def test_world_imports_neither_torch_nor_flower():
    package = Path(__file__).resolve().parents[2] / "fedsim" / "world"
    for source in package.glob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(import|from)\s+(torch|flwr)\b", text, re.M), source.name
