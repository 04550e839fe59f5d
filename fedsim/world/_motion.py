"""The mobility protocol of the World and its one factory.

A ``Motion`` answers where every device is relative to the server (the geometry the channel
needs) and moves everyone by a round's duration, returning the propulsion power it costs. The
World holds one and never asks which kind it is: ``build_motion`` reads ``mobility.kind``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from fedsim.rng import numpy_stream
from fedsim.world._cellular import CellularNetwork
from fedsim.world._config import WorldConfig
from fedsim.world._drone_fleet import DroneFleet
from fedsim.world._mobility import (
    RandomWaypoint,
    SwarmFormation,
    distances_to_bs,
    formation_offsets,
    place_disc,
    place_hex_cell,
    place_uniform_square,
)
from fedsim.world._propulsion import propulsion_power_w


class Motion(Protocol):
    def geometry(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(N,) horizontal and vertical separation from the server in m, and (N,) antenna
        pointing errors in degrees (None where antennas do not move)."""

    def positions_m(self) -> np.ndarray:
        """(N, 3) device positions."""

    def step(self, dt_s: float) -> np.ndarray:
        """Move everyone by ``dt_s``; (N,) propulsion power in W over that time (0: ground)."""

    def state_dict(self) -> dict:
        """What moving has changed (numpy arrays, plain values, generator states)."""

    def load_state_dict(self, state: dict) -> None: ...


class GroundMotion:
    """Ground devices at a fixed height around a base station: dropped once, then static or on a
    random-waypoint walk."""

    def __init__(self, positions_m: np.ndarray, config: WorldConfig, walk: RandomWaypoint | None) -> None:
        self._positions_m = np.array(positions_m, dtype=float)
        self._walk = walk
        self._bs_m = config.deployment.bs_position_m
        self._device_height_m = config.radio.device_height_m
        self._vertical_m = abs(config.radio.bs_height_m - config.radio.device_height_m)
        # A static drop never moves: its geometry and positions are computed once, read-only
        # (the same array objects every round, so a caller may key a cache on them).
        self._static: tuple | None = None
        if walk is None:
            geometry = self._geometry()
            positions = self._positions()
            for array in (*geometry[:2], positions):
                array.flags.writeable = False
            self._static = (geometry, positions)

    def _xy(self) -> np.ndarray:
        return self._walk.positions_m if self._walk is not None else self._positions_m

    def _geometry(self):
        horizontal = distances_to_bs(self._xy(), self._bs_m)
        return horizontal, np.full(horizontal.shape, self._vertical_m), None

    def _positions(self) -> np.ndarray:
        xy = self._xy()
        return np.column_stack([xy, np.full(len(xy), self._device_height_m)])

    def geometry(self):
        return self._geometry() if self._static is None else self._static[0]

    def positions_m(self) -> np.ndarray:
        return self._positions() if self._static is None else self._static[1]

    def step(self, dt_s: float) -> np.ndarray:
        if self._walk is not None:
            self._walk.step(dt_s)
        return np.zeros(len(self._positions_m))

    def state_dict(self) -> dict:
        return {} if self._walk is None else {"walk": self._walk.state_dict()}  # a static drop never changes

    def load_state_dict(self, state: dict) -> None:
        if (self._walk is None) != ("walk" not in state):
            raise ValueError(f"world state motion: keys {sorted(state)} do not fit this world's mobility")
        if self._walk is not None:
            self._walk.load_state_dict(state["walk"])


class SwarmMotion:
    """Followers of a leader UAV that is also the server; wind gusts move them and their antennas,
    and every follower pays rotary-wing propulsion at the formation's airspeed."""

    def __init__(self, swarm: SwarmFormation) -> None:
        self.swarm = swarm

    def geometry(self):
        rel = self.swarm.follower_positions_m - self.swarm.leader_position_m
        pointing = np.hypot(*self.swarm.pointing_error_deg().T)
        return np.hypot(rel[:, 0], rel[:, 1]), np.abs(rel[:, 2]), pointing

    def positions_m(self) -> np.ndarray:
        return self.swarm.follower_positions_m

    def step(self, dt_s: float) -> np.ndarray:
        power_w = float(propulsion_power_w(self.swarm.airspeed_mps))  # at the speed flown this round
        self.swarm.step(dt_s)
        return np.full(len(self.swarm), power_w)

    def state_dict(self) -> dict:
        return {"swarm": self.swarm.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.swarm.load_state_dict(state["swarm"])


def drop_devices(config: WorldConfig, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 2) ground positions by ``mobility.placement``: the square [0, side]^2 (base station
    at its corner), or a disc / hex cell of radius side/2 around the base station."""
    site, placement = config.deployment, config.mobility.placement
    if placement == "square":
        return place_uniform_square(count, site.area_side_m, rng)
    if placement == "disc":
        return place_disc(count, site.area_side_m / 2, rng, center_m=site.bs_position_m)
    return place_hex_cell(count, site.area_side_m / 2, rng, center_m=site.bs_position_m)


def build_motion(config: WorldConfig, seed: int) -> Motion:
    """The motion a configuration's ``mobility`` section describes (streams from ``seed``)."""
    mob, site = config.mobility, config.deployment
    n = site.num_devices
    if mob.kind == "drone_routes":
        return DroneFleet(CellularNetwork(config.cellular, seed), n, mob, seed)
    if mob.kind == "uav_swarm":
        return SwarmMotion(
            SwarmFormation(
                formation_offsets(mob.formation, n, mob.spacing_m),
                numpy_stream(seed, "swarm"),
                leader_position_m=(0.0, 0.0, mob.altitude_m),
                leader_velocity_mps=(mob.leader_speed_mps, 0.0, 0.0),
                wind_mps=(mob.wind_mps, 0.0, 0.0),
                gust_sigma_m=mob.gust_sigma_m,
                pointing_sigma_deg=config.radio.pointing_sigma_deg,
                gust_tau_s=mob.gust_tau_s,
            )
        )
    positions = drop_devices(config, n, numpy_stream(seed, "placement"))
    walk = None
    if mob.kind == "random_waypoint":
        bounds = (0.0, 0.0, site.area_side_m, site.area_side_m)
        walk = RandomWaypoint(positions, bounds, numpy_stream(seed, "waypoints"), speed_mps=tuple(mob.speed_mps), pause_s=mob.pause_s)
    return GroundMotion(positions, config, walk)
