"""Rotary-wing propulsion power (Zeng, Xu, Zhang 2019) against the constants of radio_energy.md."""

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.world._propulsion import (
    RotaryWing,
    energy_per_meter_j,
    max_endurance_speed_mps,
    max_range_speed_mps,
    propulsion_power_w,
    trajectory_energy_j,
)


def test_derived_constants():
    uav = RotaryWing()
    # P0 = 0.012/8·1.225·0.05·0.503·(300·0.4)³ = 4.62128e-5·1.728e6 = 79.856 W
    assert uav.blade_profile_power_w == pytest.approx(79.86, abs=0.01)
    # P_i = 1.1·20^1.5/sqrt(2·1.225·0.503) = 98.387/1.11011 = 88.63 W
    assert uav.induced_power_w == pytest.approx(88.63, abs=0.01)
    # v0 = sqrt(20/(2·1.225·0.503)) = sqrt(16.229) = 4.03 m/s; U_tip = 120 m/s
    assert uav.induced_velocity_mps == pytest.approx(4.03, abs=0.005)
    assert uav.tip_speed_mps == pytest.approx(120.0)
    assert uav.hover_power_w == pytest.approx(168.5, abs=0.05)
    assert propulsion_power_w(0.0) == pytest.approx(uav.hover_power_w)


def test_power_curve_minima():
    v = max_endurance_speed_mps()
    assert v == pytest.approx(10.2, abs=0.05)
    assert propulsion_power_w(v) == pytest.approx(126.0, abs=0.5)
    assert max_range_speed_mps() == pytest.approx(18.3, abs=0.05)
    speeds = np.linspace(0.0, 40.0, 401)
    p = propulsion_power_w(speeds)
    assert p.shape == speeds.shape and np.argmin(p) == pytest.approx(102, abs=1)
    # At high speed the parasite term dominates: power grows again past hover.
    assert propulsion_power_w(30.0) > propulsion_power_w(0.0)
    assert energy_per_meter_j(0.0) == np.inf


def test_trajectory_energy():
    uav = RotaryWing()
    # Hover 10 s, then 100 m in 10 s (10 m/s): 168.48·10 + P(10)·10.
    t = np.array([0.0, 10.0, 20.0])
    pos = np.array([[0.0, 0.0, 100.0], [0.0, 0.0, 100.0], [100.0, 0.0, 100.0]])
    expected = 10 * uav.hover_power_w + 10 * float(propulsion_power_w(10.0))
    assert trajectory_energy_j(pos, t) == pytest.approx(expected)
    # Vectorized over UAVs: (T, N, 3); the second UAV hovers all the time.
    both = np.stack([pos, np.repeat(pos[:1], 3, axis=0)], axis=1)
    np.testing.assert_allclose(trajectory_energy_j(both, t), [expected, 20 * uav.hover_power_w])
    # A 10 m/s tailwind makes the moving leg an airspeed-0 leg (hover power) and the hover leg a
    # 10 m/s airspeed leg: same total by symmetry.
    assert trajectory_energy_j(pos, t, wind_mps=[10.0, 0.0, 0.0]) == pytest.approx(expected)
    # Kinetic term: from rest (first segment) to 10 m/s (last): ½·(20/9.80665)·100 = 101.97 J.
    with_kin = trajectory_energy_j(pos, t, include_kinetic=True)
    assert with_kin - expected == pytest.approx(0.5 * 20 / 9.80665 * 100)
    with pytest.raises(ConfigError, match="uav.times_s"):
        trajectory_energy_j(pos, [0.0, 10.0, 10.0])
    with pytest.raises(ConfigError, match="uav.trajectory"):
        trajectory_energy_j(pos[:1], [0.0])
    with pytest.raises(ConfigError, match="uav.weight_n"):
        RotaryWing(weight_n=0.0)
