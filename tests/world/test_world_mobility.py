"""Static placements (square, disc, hex), BS distances, random waypoint, fixed routes and the UAV swarm formation with wind."""

import math

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.world._mobility import (
    RandomWaypoint,
    RouteMobility,
    SwarmFormation,
    distances_to_bs,
    formation_offsets,
    place_disc,
    place_hex_cell,
    place_uniform_square,
    random_formation_offsets,
)


def test_uniform_square_shape_and_bounds():
    pos = place_uniform_square(1000, 500.0, np.random.default_rng(1))
    assert pos.shape == (1000, 2)
    assert pos.min() >= 0.0 and pos.max() <= 500.0
    # Uniform: the mean sits near the centre.
    np.testing.assert_allclose(pos.mean(axis=0), [250.0, 250.0], atol=15.0)


def test_distances_default_corner_and_custom_bs():
    pos = np.array([[3.0, 4.0], [0.0, 0.0], [500.0, 500.0]])
    np.testing.assert_allclose(distances_to_bs(pos), [5.0, 0.0, 500.0 * np.sqrt(2)])
    np.testing.assert_allclose(distances_to_bs(pos, (3.0, 0.0)), [4.0, 3.0, np.hypot(497.0, 500.0)])


def test_place_disc_uniform_in_area():
    pos = place_disc(100_000, 500.0, np.random.default_rng(0), center_m=(10.0, -20.0))
    r = np.hypot(pos[:, 0] - 10.0, pos[:, 1] + 20.0)
    assert pos.shape == (100_000, 2) and r.max() <= 500.0
    assert (r < 250.0).mean() == pytest.approx(0.25, abs=0.005)  # area fraction (1/2)²
    ring = place_disc(10_000, 500.0, np.random.default_rng(1), min_radius_m=35.0)
    assert np.hypot(ring[:, 0], ring[:, 1]).min() >= 35.0
    with pytest.raises(ConfigError, match="placement.radius_m"):
        place_disc(3, 0.0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="placement.min_radius_m"):
        place_disc(3, 10.0, np.random.default_rng(0), min_radius_m=10.0)


def test_place_hex_cell_inside_and_uniform():
    radius = 100.0
    pos = place_hex_cell(60_000, radius, np.random.default_rng(2), min_radius_m=10.0)
    x, y = pos[:, 0], pos[:, 1]
    s3 = math.sqrt(3.0)
    # Hexagon with corners at 0°, 60°, ...: |y| <= √3/2·R and |√3·x ± y| <= √3·R.
    assert np.all(np.abs(y) <= s3 / 2 * radius + 1e-9)
    assert np.all(np.abs(s3 * x + y) <= s3 * radius + 1e-9)
    assert np.all(np.abs(s3 * x - y) <= s3 * radius + 1e-9)
    assert np.hypot(x, y).min() >= 10.0
    # Uniform: each 60° sector holds 1/6; the mean sits at the centre.
    sector = np.floor(np.mod(np.arctan2(y, x), 2 * np.pi) / (np.pi / 3)).astype(int)
    np.testing.assert_allclose(np.bincount(sector, minlength=6) / pos.shape[0], 1 / 6, atol=0.006)
    np.testing.assert_allclose(pos.mean(axis=0), [0.0, 0.0], atol=1.0)
    # Area check: fraction within the inscribed circle = π·(√3/2)² R² / (3√3/2 R²) = π/(2√3) = 0.9069
    # (minus the excluded 10 m disc: (0.9069·A - π·100)/(A - π·100), A = 25980.76 -> 0.9034).
    assert (np.hypot(x, y) <= s3 / 2 * radius).mean() == pytest.approx(0.9034, abs=0.004)


def test_random_waypoint_pause_and_chaining():
    rng = np.random.default_rng(3)
    start = np.array([[50.0, 50.0]])
    rwp = RandomWaypoint(start, (0.0, 0.0, 100.0, 100.0), rng, speed_mps=(2.0, 2.0), pause_s=5.0)
    target = rwp.waypoints_m[0]
    leg_s = np.hypot(*(target - start[0])) / 2.0
    rwp.step(leg_s + 2.0)  # arrives, then pauses 2 of its 5 s
    np.testing.assert_allclose(rwp.positions_m[0], target)
    rwp.step(2.0)  # still pausing (1 s left)
    np.testing.assert_allclose(rwp.positions_m[0], target)
    rwp.step(2.0)  # 1 s pause, then 1 s at 2 m/s towards the next waypoint
    assert np.hypot(*(rwp.positions_m[0] - target)) == pytest.approx(2.0)
    assert rwp.time_s == pytest.approx(leg_s + 6.0)


def test_random_waypoint_many_devices_stay_in_bounds_and_speed_limit():
    rng = np.random.default_rng(4)
    pos0 = rng.uniform(0.0, 200.0, (5000, 2))
    rwp = RandomWaypoint(pos0, (0.0, 0.0, 200.0, 200.0), rng, speed_mps=(1.0, 5.0))
    prev = rwp.positions_m
    for _ in range(20):
        cur = rwp.step(3.0)
        assert np.all(np.hypot(*(cur - prev).T) <= 5.0 * 3.0 + 1e-9)
        assert cur.min() >= 0.0 and cur.max() <= 200.0
        prev = cur
    # One long step chains many legs (no per-device loop) and still lands in bounds.
    far = rwp.step(10_000.0)
    assert far.min() >= 0.0 and far.max() <= 200.0
    # Seeded: same seed, same trajectory.
    again = RandomWaypoint(pos0, (0.0, 0.0, 200.0, 200.0), np.random.default_rng(9), speed_mps=(1.0, 5.0))
    other = RandomWaypoint(pos0, (0.0, 0.0, 200.0, 200.0), np.random.default_rng(9), speed_mps=(1.0, 5.0))
    np.testing.assert_array_equal(again.step(7.0), other.step(7.0))
    with pytest.raises(ConfigError, match="mobility.speed_mps"):
        RandomWaypoint(pos0, (0.0, 0.0, 200.0, 200.0), rng, speed_mps=(0.0, 1.0))
    with pytest.raises(ConfigError, match="mobility.bounds_m"):
        RandomWaypoint(pos0, (0.0, 0.0, -1.0, 200.0), rng)


def test_routes():
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    line = [[0, 0], [0, 5]]
    routes = RouteMobility([square, line], speed_mps=[1.0, 2.0])
    np.testing.assert_allclose(routes.route_length_m, [30.0, 5.0])
    np.testing.assert_allclose(routes.positions_at(15.0), [[10.0, 5.0], [0.0, 5.0]])  # line stopped
    np.testing.assert_allclose(routes.positions_at(0.0), [[0.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(routes.positions_at(100.0), [[0.0, 10.0], [0.0, 5.0]])
    looped = RouteMobility([square, line], speed_mps=[1.0, 2.0], loop=True)
    np.testing.assert_allclose(looped.route_length_m, [40.0, 10.0])
    # 45 s around a 40 m loop -> 5 m along; 90 m on a 10 m out-and-back -> back at the start.
    np.testing.assert_allclose(looped.positions_at(45.0), [[5.0, 0.0], [0.0, 0.0]])
    looped.step(20.0)
    # 35 s: 5 m down the closing edge (0, 10) -> (0, 0); 70 m = 7 laps of the 10 m out-and-back.
    np.testing.assert_allclose(looped.step(15.0), [[0.0, 5.0], [0.0, 0.0]])
    with pytest.raises(ConfigError, match="mobility.routes_m"):
        RouteMobility([[[0, 0, 0], [1, 1, 1]], line], 1.0)


def test_formation_offsets():
    ring = formation_offsets("ring", 6, 20.0)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 20.0)
    assert np.all(ring[:, 2] == 0.0)
    v = formation_offsets("v", 4, 10.0)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), [10.0, 10.0, 20.0, 20.0])
    assert np.all(v[:, 0] < 0)  # behind the leader
    np.testing.assert_allclose(formation_offsets("line", 3, 5.0)[:, 0], [-5.0, -10.0, -15.0])
    rnd = random_formation_offsets(1000, np.random.default_rng(0))
    d = np.linalg.norm(rnd, axis=1)
    assert d.min() >= 10.0 and d.max() <= 100.0


def test_swarm_without_wind_is_rigid():
    offsets = formation_offsets("ring", 5, 30.0)
    swarm = SwarmFormation(offsets, np.random.default_rng(0), leader_velocity_mps=(10.0, 0.0, 0.0))
    swarm.step(2.0)
    np.testing.assert_allclose(swarm.leader_position_m, [20.0, 0.0, 100.0])
    np.testing.assert_allclose(swarm.follower_positions_m, swarm.leader_position_m + offsets)
    np.testing.assert_allclose(swarm.distances_m(), 30.0)
    np.testing.assert_array_equal(swarm.pointing_error_deg(), np.zeros((5, 2)))
    assert swarm.airspeed_mps == pytest.approx(10.0)
    headwind = SwarmFormation(offsets, np.random.default_rng(0), leader_velocity_mps=(10.0, 0, 0), wind_mps=(-5.0, 0, 0))
    assert headwind.airspeed_mps == pytest.approx(15.0)


def test_swarm_gusts_are_stationary_ou_and_perturb_pointing():
    n, sigma_m, sigma_deg, tau, dt = 20_000, 2.0, 3.0, 1.0, 0.5
    offsets = np.tile([[50.0, 0.0, 0.0]], (n, 1))
    swarm = SwarmFormation(offsets, np.random.default_rng(5), gust_sigma_m=sigma_m,
                           pointing_sigma_deg=sigma_deg, gust_tau_s=tau)
    disp0 = swarm.follower_positions_m - swarm.leader_position_m - offsets
    swarm.step(dt)
    disp1 = swarm.follower_positions_m - swarm.leader_position_m - offsets
    assert disp1.std() == pytest.approx(sigma_m, rel=0.02)  # stationary
    corr = np.mean(disp0 * disp1) / sigma_m**2
    assert corr == pytest.approx(math.exp(-dt / tau), abs=0.02)  # OU correlation e^{-dt/τ}
    # Pointing error = attitude jitter (σ = 3°) + geometric misalignment: a lateral gust of σ = 2 m at
    # 50 m is atan(2/50) ≈ 2.29° of azimuth; both add (independent): sqrt(3² + 2.29²) ≈ 3.77°.
    err = swarm.pointing_error_deg()
    assert err.shape == (n, 2)
    geometric = math.degrees(math.atan(sigma_m / 50.0))
    assert err[:, 1].std() == pytest.approx(math.hypot(sigma_deg, geometric), rel=0.03)
    assert err[:, 0].std() == pytest.approx(math.hypot(sigma_deg, geometric), rel=0.03)
    # Distances fluctuate around 50 m.
    assert swarm.distances_m().mean() == pytest.approx(50.0, abs=0.1)
    # τ = 0: independent draws each step.
    white = SwarmFormation(offsets, np.random.default_rng(6), pointing_sigma_deg=sigma_deg, gust_tau_s=0.0)
    a = white.pointing_error_deg()
    white.step(dt)
    assert abs(np.corrcoef(a[:, 0], white.pointing_error_deg()[:, 0])[0, 1]) < 0.03


def test_swarm_is_seeded_and_validated():
    offsets = formation_offsets("v", 4, 10.0)
    runs = []
    for _ in range(2):
        s = SwarmFormation(offsets, np.random.default_rng(8), gust_sigma_m=1.0, pointing_sigma_deg=2.0)
        for _ in range(3):
            s.step(0.1)
        runs.append((s.follower_positions_m, s.pointing_error_deg()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    with pytest.raises(ConfigError, match="swarm.gust_sigma_m"):
        SwarmFormation(offsets, np.random.default_rng(0), gust_sigma_m=-1.0)
    with pytest.raises(ConfigError, match="swarm.offsets_m"):
        SwarmFormation(np.zeros((2, 3)), np.random.default_rng(0))
