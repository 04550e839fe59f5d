"""CMOS compute energy (Yang et al.), heterogeneous fleets and batteries."""

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.world._devices import (
    Battery,
    DeviceProfile,
    cmos_compute_energy_j,
    cmos_compute_time_s,
    draw_fleet,
)


def test_yang_et_al_worked_example():
    # C = 2e4 cycles/sample, D = 500, f = 1 GHz, κ = 1e-28:
    # E = 1e-28·2e4·500·(1e9)² = 1e-28·1e7·1e18 = 1e-3 J; t = 2e4·500/1e9 = 1e-2 s.
    assert cmos_compute_energy_j(1e-28, 2e4, 500, 1e9) == pytest.approx(1.0e-3)
    assert cmos_compute_time_s(2e4, 500, 1e9) == pytest.approx(10e-3)
    # Halving the clock doubles the time and quarters the energy (E ∝ f²).
    assert cmos_compute_energy_j(1e-28, 2e4, 500, 0.5e9) == pytest.approx(0.25e-3)
    assert cmos_compute_time_s(2e4, 500, 0.5e9) == pytest.approx(20e-3)


def test_fleet_from_profile_mix_is_seeded_and_vectorized():
    phone = DeviceProfile("phone", cpu_hz=2e9, cycles_per_sample=(1e4, 3e4), tx_power_w=0.01)
    sensor = DeviceProfile("sensor", cpu_hz=0.5e9, macs_per_s=1e9, cycles_per_sample=2e4)
    a = draw_fleet([phone, sensor], 2000, np.random.default_rng(7), weights=[3, 1])
    b = draw_fleet([phone, sensor], 2000, np.random.default_rng(7), weights=[3, 1])
    np.testing.assert_array_equal(a.profile_index, b.profile_index)
    np.testing.assert_array_equal(a.cycles_per_sample, b.cycles_per_sample)
    assert len(a) == 2000 and a.profile_names == ("phone", "sensor")
    assert (a.profile_index == 0).mean() == pytest.approx(0.75, abs=0.03)
    is_phone = a.profile_index == 0
    assert np.all(a.cpu_hz[is_phone] == 2e9) and np.all(a.cpu_hz[~is_phone] == 0.5e9)
    c_phone = a.cycles_per_sample[is_phone]
    assert c_phone.min() >= 1e4 and c_phone.max() <= 3e4 and c_phone.mean() == pytest.approx(2e4, rel=0.03)
    assert np.all(a.cycles_per_sample[~is_phone] == 2e4)
    assert np.all(np.isnan(a.macs_per_s[is_phone])) and np.all(a.macs_per_s[~is_phone] == 1e9)
    # Per-device compute cost, I iterations over D samples.
    e = a.compute_energy_j(500, iterations=3)
    np.testing.assert_allclose(e, 3 * 1e-28 * a.cycles_per_sample * 500 * a.cpu_hz**2)
    t = a.compute_time_s(500, iterations=3, cpu_hz=1e9)  # DVFS override
    np.testing.assert_allclose(t, 3 * a.cycles_per_sample * 500 / 1e9)
    np.testing.assert_allclose(a.mac_time_s(1e9)[~is_phone], 1.0)
    with pytest.raises(ValueError):
        a.cpu_hz[0] = 1.0  # read-only arrays


def test_profile_validation():
    with pytest.raises(ConfigError, match="devices.cpu_hz"):
        DeviceProfile("x")
    with pytest.raises(ConfigError, match="devices.cpu_hz"):
        DeviceProfile("x", cpu_hz=0.0)
    with pytest.raises(ConfigError, match="devices.kappa"):
        DeviceProfile("x", cpu_hz=1e9, kappa=-1.0)
    with pytest.raises(ConfigError, match="devices.cycles_per_sample"):
        DeviceProfile("x", cpu_hz=1e9, cycles_per_sample=(3e4, 1e4))
    with pytest.raises(ConfigError, match="devices.tx_power_w"):
        DeviceProfile("x", cpu_hz=1e9, tx_power_w=-0.1)
    p = DeviceProfile("x", cpu_hz=1e9)
    with pytest.raises(ConfigError, match="devices.profile_weights"):
        draw_fleet([p], 3, np.random.default_rng(0), weights=[1, 1])
    with pytest.raises(ConfigError, match="devices.num_devices"):
        draw_fleet([p], 0, np.random.default_rng(0))


def test_battery_drains_empties_and_flips_available():
    bat = Battery([1.0, 2.0, 0.5])
    assert np.all(bat.available)
    emptied = bat.drain([0.4, 0.4, 0.4])
    np.testing.assert_array_equal(emptied, [False, False, False])
    np.testing.assert_allclose(bat.level_j, [0.6, 1.6, 0.1])
    emptied = bat.drain([0.4, 0.4, 0.4])  # device 2 runs dry (0.1 < 0.4): level stops at 0
    np.testing.assert_array_equal(emptied, [False, False, True])
    np.testing.assert_allclose(bat.level_j, [0.2, 1.2, 0.0])
    np.testing.assert_array_equal(bat.available, [True, True, False])
    # Draining only some devices; an already-empty device is not reported again.
    emptied = bat.drain([0.2, 1.0], devices=[0, 2])
    np.testing.assert_array_equal(emptied, [True, False])
    np.testing.assert_array_equal(bat.available, [False, True, False])
    np.testing.assert_array_equal(bat.can_afford([0.1, 1.3], devices=[0, 1]), [False, False])
    np.testing.assert_array_equal(bat.can_afford(1.0), [False, True, False])


def test_battery_harvesting_and_mains_power():
    bat = Battery([10.0, np.inf], level_j=[0.0, np.inf], harvest_w=[0.5, 0.0])
    np.testing.assert_array_equal(bat.available, [False, True])
    bat.harvest(4.0)
    np.testing.assert_allclose(bat.level_j, [2.0, np.inf])
    assert bat.available.all()
    bat.harvest(100.0)  # capped at capacity
    assert bat.level_j[0] == 10.0
    emptied = bat.drain([1e9, 1e9])
    np.testing.assert_array_equal(emptied, [True, False])  # mains power never empties
    full = Battery.full(4, 5.0)
    np.testing.assert_array_equal(full.level_j, [5.0] * 4)


def test_battery_validation():
    with pytest.raises(ConfigError, match="devices.battery_j"):
        Battery([1.0, -2.0])
    with pytest.raises(ConfigError, match="devices.battery_j"):
        Battery.full(3, 0.0)
    with pytest.raises(ConfigError, match="devices.battery_level_j"):
        Battery([1.0], level_j=[2.0])
    with pytest.raises(ConfigError, match="devices.harvest_w"):
        Battery([1.0], harvest_w=-1.0)
    bat = Battery([1.0, 1.0])
    with pytest.raises(ConfigError, match="energy_j"):
        bat.drain([-1.0, 0.0])
    with pytest.raises(ConfigError, match="devices"):
        bat.drain([0.1, 0.1], devices=[0, 0])


def test_battery_spend_leaves_the_levels_drain_leaves():
    capacity = [1.0, 2.0, np.inf, 0.5]
    energy = np.array([0.4, 3.0, 1e9, 0.5])
    for devices in (None, np.array([3, 0, 2, 1])):
        drained, spent = Battery(capacity), Battery(capacity)
        drained.drain(energy, devices)
        spent.spend(energy, devices)
        np.testing.assert_array_equal(spent.level_j, drained.level_j)
    with pytest.raises(ConfigError, match="energy_j"):
        Battery(capacity).spend(np.array([0.1, np.nan, 0.0, 0.0]))
    battery = Battery([1.0, 2.0])
    view = battery.levels_now()
    with pytest.raises(ValueError):
        view[0] = 0.0  # read-only
    battery.spend(np.array([0.5, 0.5]))
    np.testing.assert_array_equal(view, [0.5, 1.5])  # a view: it follows the levels
