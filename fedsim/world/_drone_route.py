"""A drone's flight: waypoints at one altitude, flown at constant speed, sampled every ``step_m``.

Handover decisions and measurements happen at the sample points (one every step_m / speed
seconds), which is what a policy over "waypoints" sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fedsim._checks import check_float, check_int
from fedsim.errors import ConfigError
from fedsim.world._cellular import MAX_ALTITUDE_M


@dataclass(frozen=True, eq=False)
class DroneRoute:
    """Waypoints (V, 2) in m, an altitude in m and a speed in m/s. ``loop``: the route closes
    back to its first waypoint and is flown round and round."""

    waypoints_m: np.ndarray
    altitude_m: float = 100.0
    speed_mps: float = 10.0
    loop: bool = False

    def __post_init__(self) -> None:
        way = np.asarray(self.waypoints_m, dtype=float)
        if way.ndim != 2 or way.shape[0] < 2 or way.shape[1] != 2 or not np.all(np.isfinite(way)):
            raise ConfigError("route.waypoints_m", f"array of shape {way.shape}", "(V >= 2, 2) finite waypoints (x, y)")
        object.__setattr__(self, "waypoints_m", way)
        # 36.777's aerial models need the UE above 1 m; above 300 m they are not defined.
        check_float("route.altitude_m", self.altitude_m, low=1.5, high=MAX_ALTITUDE_M)
        check_float("route.speed_mps", self.speed_mps, low=0, low_open=True)

    @cached_property
    def _polyline_m(self) -> np.ndarray:
        return np.vstack([self.waypoints_m, self.waypoints_m[:1]]) if self.loop else self.waypoints_m

    @cached_property
    def _vertex_arc_m(self) -> np.ndarray:
        """Arc length at each vertex of the polyline, from 0 to the route's length."""
        return np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(self._polyline_m, axis=0), axis=1))))

    @property
    def length_m(self) -> float:
        return float(self._vertex_arc_m[-1])

    def sample(self, step_m: float) -> tuple[np.ndarray, np.ndarray]:
        """(P, 3) points along the route and their (P,) arc lengths in m. Open: every ``step_m``
        from the start, the last waypoint included. Loop: P = ceil(length/step_m) equal steps
        round the loop (the start is not repeated), so every interval lasts the same time."""
        step = check_float("route.step_m", step_m, low=0, low_open=True)
        poly, cum = self._polyline_m, self._vertex_arc_m
        if self.loop:
            count = max(1, int(np.ceil(cum[-1] / step)))
            arc = np.arange(count) * (cum[-1] / count)
        else:
            arc = np.arange(0.0, cum[-1], step)
            arc = np.append(arc, cum[-1]) if cum[-1] - arc[-1] > 1e-9 else arc
        x = np.interp(arc, cum, poly[:, 0])
        y = np.interp(arc, cum, poly[:, 1])
        return np.column_stack([x, y, np.full(arc.size, self.altitude_m)]), arc

    def position_m(self, time_s: float) -> np.ndarray:
        """(3,) where the drone is after ``time_s`` of flight (a loop wraps; an open route stops)."""
        poly, cum = self._polyline_m, self._vertex_arc_m
        s = self.speed_mps * float(time_s)
        s = np.mod(s, cum[-1]) if self.loop and cum[-1] > 0 else min(s, cum[-1])
        return np.array([np.interp(s, cum, poly[:, 0]), np.interp(s, cum, poly[:, 1]), self.altitude_m])


def random_route(
    bounds_m: tuple[float, float, float, float],
    rng: np.random.Generator,
    *,
    legs: int = 3,
    altitude_m: float = 100.0,
    speed_mps: float = 10.0,
    margin_m: float = 0.0,
    loop: bool = False,
) -> DroneRoute:
    """A route of ``legs`` straight legs between uniform points of the bounds (shrunk by margin)."""
    check_int("route.legs", legs, 1)
    x0, y0, x1, y1 = bounds_m
    low = np.array([x0 + margin_m, y0 + margin_m])
    high = np.array([x1 - margin_m, y1 - margin_m])
    if np.any(high <= low):
        raise ConfigError("route.margin_m", margin_m, f"less than half the layout's size {bounds_m}")
    points = low + (high - low) * rng.random((legs + 1, 2))
    return DroneRoute(points, altitude_m=altitude_m, speed_mps=speed_mps, loop=loop)
