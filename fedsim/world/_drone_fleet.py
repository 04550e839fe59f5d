"""Drones that run federated learning while they fly, served by a cellular network.

Each device flies its own closed route (``mobility.route_legs`` random legs inside the layout, at
``mobility.altitude_m``, a speed drawn in ``mobility.speed_mps``) from ``(seed, "drone-route", i)``,
round and round, from time 0 of the simulated clock. Its serving cell at every sample point of
the route comes from a handover rule (``assign``; the strongest cell until one is assigned).

Uplink: a drone uses its serving cell's whole carrier at the rate B·log2(1 + SINR), SINR from the
network's full-load model (reciprocal links; aerial users see line of sight to many cells, so
interference, not noise, limits them either way). An upload integrates this rate along the route
from the moment it starts; a handover inside the upload silences it for the interruption time.

As a ``Motion``, the fleet reports the horizontal and vertical separation from each drone's
serving site (what the round-level channel needs) and rotary-wing propulsion at each drone's speed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream
from fedsim.world._cellular import CellularNetwork
from fedsim.world._drone_route import random_route
from fedsim.world._handover import RouteLinks, upload_time_s
from fedsim.world._propulsion import propulsion_power_w

ServeRule = Callable[[RouteLinks], np.ndarray]


class DroneFleet:
    def __init__(self, network: CellularNetwork, num_devices: int, mobility, seed: int) -> None:
        self.network = network
        cfg = network.config
        speeds = numpy_stream(seed, "drone-speed").uniform(*mobility.speed_mps, size=num_devices)
        margin = min(cfg.isd_m / 4.0, 100.0)
        self.links = [
            RouteLinks.measure(
                network,
                random_route(network.bounds_m, numpy_stream(seed, "drone-route", i), legs=mobility.route_legs,
                             altitude_m=mobility.altitude_m, speed_mps=float(speeds[i]), margin_m=margin, loop=True),
                mobility.route_step_m,
            )
            for i in range(num_devices)
        ]
        self.speed_mps = speeds
        self._route_kw = dict(legs=mobility.route_legs, altitude_m=mobility.altitude_m, margin_m=margin)
        self._step_m = mobility.route_step_m
        self.time_s = 0.0
        self.assign(lambda links: np.argmax(links.rsrp_dbm, axis=1))

    def training_routes(self, count: int, seed: int) -> list[RouteLinks]:
        """``count`` other random routes of the same layout and altitude (from
        ``(seed, "training-route", j)``): what a rule that generalises trains on."""
        speed = float(np.mean(self.speed_mps))
        return [
            RouteLinks.measure(self.network, random_route(self.network.bounds_m, numpy_stream(seed, "training-route", j), speed_mps=speed, **self._route_kw), self._step_m)
            for j in range(count)
        ]

    def assign(self, serve: ServeRule) -> None:
        """Serving cells of every drone's route from a handover rule ``serve(links) -> (P,)``."""
        serving = [np.asarray(serve(links), dtype=np.int64) for links in self.links]
        for links, cells in zip(self.links, serving):
            if cells.shape != (links.num_points,) or cells.min() < 0 or cells.max() >= self.network.num_cells:
                raise ConfigError("handover.serving", f"array of shape {cells.shape}", f"({links.num_points},) cells in [0, {self.network.num_cells})")
        self.serving = serving
        # On a loop, point 0 follows the last point: a change there is a handover too.
        self.handover = [np.roll(cells, 1) != cells for cells in serving]
        self.rate_bps = [self.network.rate_bps(self.network.sinr_db(l.rsrp_dbm, c)) for l, c in zip(self.links, serving)]

    def _point(self, device: int, time_s: float) -> int:
        links = self.links[device]
        return int(time_s // links.step_s) % links.num_points

    def serving_cells(self, time_s: float | None = None) -> np.ndarray:
        """(N,) serving cell of every drone at ``time_s`` (default: now)."""
        t = self.time_s if time_s is None else time_s
        return np.array([self.serving[i][self._point(i, t)] for i in range(len(self.links))], dtype=np.int64)

    def sinr_db_at(self, device: int, time_s: float) -> float:
        """SINR of a drone's serving cell at ``time_s``."""
        point = self._point(device, time_s)
        links = self.links[device]
        return float(self.network.sinr_db(links.rsrp_dbm[point : point + 1], self.serving[device][point : point + 1])[0])

    def upload(self, devices: np.ndarray, start_s: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(airtime, airtime had no handover happened) per device, uploads starting at the
        absolute times ``start_s``: the difference is what handovers cost."""
        cfg = self.network.config
        airtime = np.zeros(devices.size)
        unhindered = np.zeros(devices.size)
        for k, i in enumerate(devices):  # a handful of drones per round
            links = self.links[i]
            args = (self.rate_bps[i], links.step_s, float(start_s[k]), float(bits[k]), cfg.handover_interruption_s)
            airtime[k] = upload_time_s(args[0], self.handover[i], *args[1:], on_handover=cfg.upload_on_handover)
            unhindered[k] = upload_time_s(args[0], np.zeros(links.num_points, bool), *args[1:])
        return airtime, unhindered

    # -- the Motion protocol ---------------------------------------------------------------------
    def positions_m(self) -> np.ndarray:
        return np.array([links.route.position_m(self.time_s) for links in self.links])

    def geometry(self):
        pos = self.positions_m()
        site = self.network.cell_position_m[self.serving_cells()]
        horizontal = np.hypot(*(pos[:, :2] - site).T)
        return horizontal, np.abs(pos[:, 2] - self.network.config.bs_height_m), None

    def step(self, dt_s: float) -> np.ndarray:
        self.time_s += float(dt_s)
        return np.asarray(propulsion_power_w(self.speed_mps), dtype=float)
