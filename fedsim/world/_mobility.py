"""Where devices are and how they move: static drops, random waypoint, fixed routes, UAV formations.

All models are vectorized over devices: one ``step(dt_s)`` moves everyone with array operations
(a loop runs only over waypoint legs completed within one step, never over devices). Randomness
comes from the Generator passed in (use fedsim.rng.numpy_stream(seed, "mobility", ...)).
Positions are in metres.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_choice, check_float, check_int
from fedsim.errors import ConfigError
from fedsim.world._state import generator_state, restored_array, set_generator_state

_MAX_LEGS_PER_STEP = 100_000  # guard against a zero-length-leg livelock


# --- static placements ----------------------------------------------------------------------


def _center(center_m: ArrayLike) -> np.ndarray:
    c = np.asarray(center_m, dtype=float)
    if c.shape != (2,) or not np.all(np.isfinite(c)):
        raise ConfigError("placement.center_m", center_m, "a pair of finite coordinates (x, y) in m")
    return c


def place_uniform_square(num_devices: int, side_m: float, rng: np.random.Generator) -> np.ndarray:
    """(num_devices, 2) positions in metres, i.i.d. uniform over the square [0, side_m]^2."""
    return rng.uniform(0.0, float(side_m), size=(int(num_devices), 2))


def distances_to_bs(
    positions_m: ArrayLike, bs_position_m: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Euclidean distance (m) of each position to a base station at (x, y).

    The default (0, 0) is the square's corner, where the Green-QFL release puts its base station.
    """
    offsets = np.asarray(positions_m, dtype=float) - np.asarray(bs_position_m, dtype=float)
    return np.hypot(offsets[..., 0], offsets[..., 1])


def place_disc(
    num_devices: int,
    radius_m: float,
    rng: np.random.Generator,
    *,
    center_m: ArrayLike = (0.0, 0.0),
    min_radius_m: float = 0.0,
) -> np.ndarray:
    """(N, 2) positions uniform over the annulus min_radius <= r <= radius (area-uniform:
    r = sqrt(U(r_min², R²)), angle U[0, 2π))."""
    n = check_int("placement.num_devices", num_devices, 1)
    radius = check_float("placement.radius_m", radius_m, low=0, low_open=True)
    r_min = check_float("placement.min_radius_m", min_radius_m, low=0, high=radius, high_open=True)
    r = np.sqrt(rng.uniform(r_min**2, radius**2, n))
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    return _center(center_m) + np.column_stack((r * np.cos(angle), r * np.sin(angle)))


def place_hex_cell(
    num_devices: int,
    radius_m: float,
    rng: np.random.Generator,
    *,
    center_m: ArrayLike = (0.0, 0.0),
    min_radius_m: float = 0.0,
) -> np.ndarray:
    """(N, 2) positions uniform over a regular hexagon of circumradius ``radius_m`` (corners at
    0°, 60°, ...), optionally excluding a disc of ``min_radius_m`` around the centre (e.g. 10 m, the
    TR 38.901 minimum d2D). The hexagon is six equilateral triangles: pick one, then a uniform point
    in it (reflected unit-square trick); excluded points are redrawn as a batch."""
    n = check_int("placement.num_devices", num_devices, 1)
    radius = check_float("placement.radius_m", radius_m, low=0, low_open=True)
    inradius = radius * math.sqrt(3.0) / 2.0
    r_min = check_float("placement.min_radius_m", min_radius_m, low=0, high=inradius, high_open=True)
    out = np.empty((n, 2))
    todo = np.arange(n)
    while todo.size:
        k = todo.size
        sector = rng.integers(0, 6, k)
        u, v = rng.random(k), rng.random(k)
        flip = u + v > 1.0
        u, v = np.where(flip, 1.0 - u, u), np.where(flip, 1.0 - v, v)
        a0, a1 = sector * (np.pi / 3.0), (sector + 1) * (np.pi / 3.0)
        pts = radius * (
            u[:, None] * np.column_stack((np.cos(a0), np.sin(a0)))
            + v[:, None] * np.column_stack((np.cos(a1), np.sin(a1)))
        )
        out[todo] = pts
        todo = todo[np.hypot(pts[:, 0], pts[:, 1]) < r_min]
    return _center(center_m) + out


# --- random waypoint --------------------------------------------------------------------------


def _bounds(bounds_m: ArrayLike) -> np.ndarray:
    b = np.asarray(bounds_m, dtype=float)
    if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
        raise ConfigError("mobility.bounds_m", bounds_m, "(x_min, y_min, x_max, y_max) with max > min")
    return b


def _speed_range(speed_mps: float | tuple[float, float]) -> tuple[float, float]:
    lo, hi = speed_mps if isinstance(speed_mps, (tuple, list)) else (speed_mps, speed_mps)
    lo = check_float("mobility.speed_mps", lo, low=0, low_open=True)
    hi = check_float("mobility.speed_mps", hi, low=lo)
    return lo, hi


class RandomWaypoint:
    """Random waypoint in a rectangle: each device walks straight to a uniform random waypoint at a
    speed drawn U[v_min, v_max], pauses ``pause_s``, and repeats. v_min > 0 is required (with
    v_min = 0 the average speed decays over time, a known RWP flaw)."""

    def __init__(
        self,
        positions_m: ArrayLike,
        bounds_m: ArrayLike,
        rng: np.random.Generator,
        *,
        speed_mps: float | tuple[float, float] = (1.0, 2.0),
        pause_s: float = 0.0,
    ) -> None:
        pos = np.array(positions_m, dtype=float)
        if pos.ndim != 2 or pos.shape[1] != 2 or pos.shape[0] < 1 or not np.all(np.isfinite(pos)):
            raise ConfigError("mobility.positions_m", f"array of shape {pos.shape}", "(N, 2) finite positions")
        self._bounds = _bounds(bounds_m)
        self._speed = _speed_range(speed_mps)
        self._pause = check_float("mobility.pause_s", pause_s, low=0)
        self._rng = rng
        self._pos = pos
        n = pos.shape[0]
        self._target = self._draw_targets(n)
        self._v = self._draw_speeds(n)
        self._pause_left = np.zeros(n)
        self.time_s = 0.0

    def _draw_targets(self, k: int) -> np.ndarray:
        lo, hi = self._bounds[:2], self._bounds[2:]
        return lo + (hi - lo) * self._rng.random((k, 2))

    def _draw_speeds(self, k: int) -> np.ndarray:
        return self._rng.uniform(self._speed[0], self._speed[1], k)

    @property
    def positions_m(self) -> np.ndarray:
        return self._pos.copy()

    @property
    def waypoints_m(self) -> np.ndarray:
        return self._target.copy()

    def step(self, dt_s: float) -> np.ndarray:
        """Advance every device by ``dt_s`` seconds (legs finished inside the step chain on)."""
        remaining = np.full(self._pos.shape[0], check_float("mobility.dt_s", dt_s, low=0))
        for _ in range(_MAX_LEGS_PER_STEP):
            waiting = np.minimum(self._pause_left, remaining)
            self._pause_left -= waiting
            remaining -= waiting
            moving = remaining > 0.0
            if not moving.any():
                break
            offset = self._target - self._pos
            dist = np.hypot(offset[:, 0], offset[:, 1])
            time_to = dist / self._v
            arrive = moving & (time_to <= remaining)
            cruise = moving & ~arrive
            frac = np.where(cruise, self._v * remaining / np.where(dist > 0, dist, 1.0), 0.0)
            self._pos += offset * frac[:, None]
            remaining[cruise] = 0.0
            if arrive.any():
                self._pos[arrive] = self._target[arrive]
                remaining[arrive] -= time_to[arrive]
                k = int(arrive.sum())
                self._target[arrive] = self._draw_targets(k)
                self._v[arrive] = self._draw_speeds(k)
                self._pause_left[arrive] = self._pause
        else:
            raise RuntimeError(f"random waypoint: more than {_MAX_LEGS_PER_STEP} legs in one step")
        self.time_s += float(dt_s)
        return self.positions_m

    def state_dict(self) -> dict:
        """Where every walker is and is heading, and the generator that draws later legs."""
        return {
            "position_m": self._pos.copy(),
            "waypoint_m": self._target.copy(),
            "speed_mps": self._v.copy(),
            "pause_left_s": self._pause_left.copy(),
            "time_s": self.time_s,
            "rng": generator_state(self._rng),
        }

    def load_state_dict(self, state: dict) -> None:
        self._pos = restored_array(state["position_m"], self._pos, "walk.position_m")
        self._target = restored_array(state["waypoint_m"], self._target, "walk.waypoint_m")
        self._v = restored_array(state["speed_mps"], self._v, "walk.speed_mps")
        self._pause_left = restored_array(state["pause_left_s"], self._pause_left, "walk.pause_left_s")
        self.time_s = float(state["time_s"])
        set_generator_state(self._rng, state["rng"], "walk.rng")


# --- fixed routes -----------------------------------------------------------------------------


class RouteMobility:
    """Devices following fixed polylines at constant speed. Routes may differ in vertex count
    (they are padded with their last vertex: zero-length segments). ``loop=True`` closes each route
    back to its first vertex and goes round forever; otherwise a device stops at its last vertex.
    ``positions_at(t)`` is stateless; ``step(dt)`` advances an internal clock."""

    def __init__(self, routes_m: Sequence[ArrayLike], speed_mps: ArrayLike, *, loop: bool = False) -> None:
        polylines = [np.asarray(r, dtype=float) for r in routes_m]
        if not polylines:
            raise ConfigError("mobility.routes_m", routes_m, "at least one route")
        dim = polylines[0].shape[-1] if polylines[0].ndim == 2 else 0
        for r in polylines:
            ok = r.ndim == 2 and r.shape[0] >= 1 and r.shape[1] == dim and dim in (2, 3)
            if not ok or not np.all(np.isfinite(r)):
                raise ConfigError("mobility.routes_m", f"route of shape {r.shape}",
                                  "(V, 2) or (V, 3) finite waypoints, the same dimension for all")
        if loop:
            polylines = [np.vstack((r, r[:1])) for r in polylines]
        n = len(polylines)
        v_max = max(r.shape[0] for r in polylines)
        verts = np.empty((n, v_max, dim))
        for i, r in enumerate(polylines):  # construction only; motion is vectorized
            verts[i, : r.shape[0]] = r
            verts[i, r.shape[0] :] = r[-1]
        seg = np.linalg.norm(np.diff(verts, axis=1), axis=-1)  # (N, V-1)
        self._verts = verts
        self._cum = np.concatenate((np.zeros((n, 1)), np.cumsum(seg, axis=1)), axis=1)  # (N, V)
        self._length = self._cum[:, -1]
        speed = np.broadcast_to(np.asarray(speed_mps, dtype=float), (n,))
        if not np.all(np.isfinite(speed)) or np.any(speed < 0):
            raise ConfigError("mobility.speed_mps", speed_mps, "finite speeds >= 0")
        self._speed = speed.copy()
        self._loop = bool(loop)
        self.time_s = 0.0

    @property
    def route_length_m(self) -> np.ndarray:
        return self._length.copy()

    def positions_at(self, t_s: float) -> np.ndarray:
        """(N, dim) positions after ``t_s`` seconds of travel."""
        s = self._speed * float(t_s)
        if self._loop:
            safe_len = np.where(self._length > 0, self._length, 1.0)
            s = np.where(self._length > 0, np.mod(s, safe_len), 0.0)
        s = np.minimum(s, self._length)
        n, v = self._cum.shape
        if v == 1:
            return self._verts[:, 0].copy()
        # Segment index: how many vertices after the first lie at or before arc length s.
        seg = np.clip(np.sum(self._cum[:, 1:] <= s[:, None], axis=1), 0, v - 2)
        rows = np.arange(n)
        start, end = self._verts[rows, seg], self._verts[rows, seg + 1]
        seg_len = self._cum[rows, seg + 1] - self._cum[rows, seg]
        safe_len = np.where(seg_len > 0, seg_len, 1.0)
        frac = np.where(seg_len > 0, (s - self._cum[rows, seg]) / safe_len, 0.0)
        return start + (end - start) * frac[:, None]

    def step(self, dt_s: float) -> np.ndarray:
        self.time_s += check_float("mobility.dt_s", dt_s, low=0)
        return self.positions_at(self.time_s)


# --- UAV swarm --------------------------------------------------------------------------------

FORMATION_SHAPES: tuple[str, ...] = ("ring", "v", "line")


def formation_offsets(shape: str, num_followers: int, spacing_m: float) -> np.ndarray:
    """(N, 3) follower offsets from the leader in a horizontal plane (same altitude):
    ``ring`` N followers evenly on a circle of radius ``spacing_m``; ``v`` alternating left/right
    arms behind the leader at 45°, ``spacing_m`` apart; ``line`` a file behind the leader."""
    check_choice("swarm.formation", shape, FORMATION_SHAPES)
    n = check_int("swarm.num_followers", num_followers, 1)
    spacing = check_float("swarm.spacing_m", spacing_m, low=0, low_open=True)
    k = np.arange(n)
    if shape == "ring":
        angle = 2.0 * np.pi * k / n
        xy = spacing * np.column_stack((np.cos(angle), np.sin(angle)))
    elif shape == "line":
        xy = np.column_stack((-spacing * (k + 1), np.zeros(n)))
    else:
        rank = k // 2 + 1
        side = np.where(k % 2 == 0, 1.0, -1.0)
        arm = math.sqrt(0.5)  # 45° behind the leader
        xy = spacing * rank[:, None] * np.column_stack((-np.full(n, arm), side * arm))
    return np.column_stack((xy, np.zeros(n)))


def random_formation_offsets(
    num_followers: int, rng: np.random.Generator, min_distance_m: float = 10.0, max_distance_m: float = 100.0
) -> np.ndarray:
    """(N, 3) offsets at uniform distances in [min, max] m and uniform bearings, same altitude
    (the UAV-swarm default: followers 10-100 m from the leader)."""
    n = check_int("swarm.num_followers", num_followers, 1)
    lo = check_float("swarm.min_distance_m", min_distance_m, low=0, low_open=True)
    hi = check_float("swarm.max_distance_m", max_distance_m, low=lo)
    r = rng.uniform(lo, hi, n)
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.column_stack((r * np.cos(angle), r * np.sin(angle), np.zeros(n)))


def _az_el_deg(vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    az = np.degrees(np.arctan2(vec[..., 1], vec[..., 0]))
    el = np.degrees(np.arctan2(vec[..., 2], np.hypot(vec[..., 0], vec[..., 1])))
    return az, el


class SwarmFormation:
    """Leader-follower formation flight with wind gusts.

    The leader flies at ``leader_velocity_mps`` (ground velocity, settable). Each follower holds its
    offset from the leader, perturbed by a gust displacement: a per-axis Ornstein-Uhlenbeck process
    with stationary std ``gust_sigma_m`` and correlation time ``gust_tau_s`` (tau = 0: independent
    each step). Each follower's antenna is steered at where the leader should be (its nominal
    offset), so its pointing error (elevation, azimuth; degrees) is its attitude jitter (an OU
    process with std ``pointing_sigma_deg``, same tau; wind and vibration) plus the geometric
    misalignment that the gust displacement causes. ``wind_mps`` is the mean wind; it does not move
    the formation (the flight controller compensates) but sets the airspeed for propulsion.
    """

    def __init__(
        self,
        offsets_m: ArrayLike,
        rng: np.random.Generator,
        *,
        leader_position_m: ArrayLike = (0.0, 0.0, 100.0),
        leader_velocity_mps: ArrayLike = (0.0, 0.0, 0.0),
        wind_mps: ArrayLike = (0.0, 0.0, 0.0),
        gust_sigma_m: float = 0.0,
        pointing_sigma_deg: float = 0.0,
        gust_tau_s: float = 1.0,
    ) -> None:
        offsets = np.array(offsets_m, dtype=float)
        ok = offsets.ndim == 2 and offsets.shape[1] == 3 and offsets.shape[0] >= 1
        if not ok or not np.all(np.isfinite(offsets)):
            shown = f"array of shape {offsets.shape}"
            raise ConfigError("swarm.offsets_m", shown, "(N, 3) finite offsets")
        if np.any(np.linalg.norm(offsets, axis=1) <= 0):
            raise ConfigError("swarm.offsets_m", "a zero offset", "followers away from the leader")
        self._offsets = offsets
        self._leader = self._vec3("swarm.leader_position_m", leader_position_m)
        self.leader_velocity_mps = self._vec3("swarm.leader_velocity_mps", leader_velocity_mps)
        self.wind_mps = self._vec3("swarm.wind_mps", wind_mps)
        self._gust_sigma = check_float("swarm.gust_sigma_m", gust_sigma_m, low=0)
        self._point_sigma = check_float("swarm.pointing_sigma_deg", pointing_sigma_deg, low=0)
        self._tau = check_float("swarm.gust_tau_s", gust_tau_s, low=0)
        self._rng = rng
        n = offsets.shape[0]
        # Stationary start: the OU processes begin in their steady-state distribution.
        self._gust = self._gust_sigma * rng.standard_normal((n, 3))
        self._jitter = self._point_sigma * rng.standard_normal((n, 2))
        self.time_s = 0.0

    @staticmethod
    def _vec3(key: str, value: ArrayLike) -> np.ndarray:
        v = np.array(value, dtype=float)
        if v.shape != (3,) or not np.all(np.isfinite(v)):
            raise ConfigError(key, value, "a finite (x, y, z) vector")
        return v

    def __len__(self) -> int:
        return int(self._offsets.shape[0])

    @property
    def leader_position_m(self) -> np.ndarray:
        return self._leader.copy()

    @property
    def follower_positions_m(self) -> np.ndarray:
        """(N, 3) follower positions: leader + offset + gust displacement."""
        return self._leader + self._offsets + self._gust

    @property
    def airspeed_mps(self) -> float:
        """Airspeed of the formation, |v_ground - wind| (input to propulsion_power_w)."""
        return float(np.linalg.norm(self.leader_velocity_mps - self.wind_mps))

    def distances_m(self) -> np.ndarray:
        """(N,) follower-to-leader distances."""
        return np.linalg.norm(self._offsets + self._gust, axis=1)

    def pointing_error_deg(self) -> np.ndarray:
        """(N, 2) follower antenna pointing errors (elevation, azimuth) towards the leader."""
        az_nom, el_nom = _az_el_deg(-self._offsets)
        az, el = _az_el_deg(-(self._offsets + self._gust))
        d_az = (az - az_nom + 180.0) % 360.0 - 180.0
        return self._jitter + np.column_stack((el - el_nom, d_az))

    def step(self, dt_s: float) -> None:
        """Fly ``dt_s`` seconds: move the leader, evolve gusts and attitude jitter (exact OU update
        x ← x·e^{-dt/τ} + σ·sqrt(1 - e^{-2dt/τ})·ξ)."""
        dt = check_float("swarm.dt_s", dt_s, low=0)
        self._leader = self._leader + self.leader_velocity_mps * dt
        rho = 0.0 if self._tau == 0.0 else math.exp(-dt / self._tau)
        if dt > 0:
            innov = math.sqrt(1.0 - rho * rho)
            gust_noise = self._rng.standard_normal(self._gust.shape)
            jitter_noise = self._rng.standard_normal(self._jitter.shape)
            self._gust = rho * self._gust + self._gust_sigma * innov * gust_noise
            self._jitter = rho * self._jitter + self._point_sigma * innov * jitter_noise
        self.time_s += dt

    def state_dict(self) -> dict:
        """The leader's position and velocity, the gust and jitter processes and their generator."""
        return {
            "leader_position_m": self._leader.copy(),
            "leader_velocity_mps": self.leader_velocity_mps.copy(),
            "gust_m": self._gust.copy(),
            "jitter_deg": self._jitter.copy(),
            "time_s": self.time_s,
            "rng": generator_state(self._rng),
        }

    def load_state_dict(self, state: dict) -> None:
        self._leader = restored_array(state["leader_position_m"], self._leader, "swarm.leader_position_m")
        self.leader_velocity_mps = restored_array(state["leader_velocity_mps"], self.leader_velocity_mps, "swarm.leader_velocity_mps")
        self._gust = restored_array(state["gust_m"], self._gust, "swarm.gust_m")
        self._jitter = restored_array(state["jitter_deg"], self._jitter, "swarm.jitter_deg")
        self.time_s = float(state["time_s"])
        set_generator_state(self._rng, state["rng"], "swarm.rng")
