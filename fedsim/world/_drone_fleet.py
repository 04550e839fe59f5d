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

from fedsim.rng import numpy_stream
from fedsim.world._cellular import CellularNetwork
from fedsim.world._drone_route import random_route
from fedsim.world._handover import RouteLinks, check_serving, radio_link_failures, strongest_cells, upload_time_s
from fedsim.world._propulsion import propulsion_power_w

ServeRule = Callable[[RouteLinks], np.ndarray]


def measure_random_routes(network: CellularNetwork, mobility, seed: int, purpose: str, speeds_mps, *, loop: bool = False) -> list[RouteLinks]:
    """One random route of the layout per entry of ``speeds_mps`` (m/s), drawn from
    ``(seed, purpose, j)`` with ``mobility``'s legs, altitude and measurement step, and measured.
    Routes keep a quarter of an inter-site distance (at most 100 m) from the layout's edge."""
    margin_m = min(network.config.isd_m / 4.0, 100.0)
    return [
        RouteLinks.measure(
            network,
            random_route(network.bounds_m, numpy_stream(seed, purpose, j), legs=mobility.route_legs, altitude_m=mobility.altitude_m,
                         speed_mps=float(speed), margin_m=margin_m, loop=loop),
            mobility.route_step_m,
        )
        for j, speed in enumerate(speeds_mps)
    ]


class DroneFleet:
    def __init__(self, network: CellularNetwork, num_devices: int, mobility, seed: int) -> None:
        self.network = network
        self.mobility = mobility
        self.speed_mps = numpy_stream(seed, "drone-speed").uniform(*mobility.speed_mps, size=num_devices)
        self.links = measure_random_routes(network, mobility, seed, "drone-route", self.speed_mps, loop=True)
        self.time_s = 0.0
        self.assign(strongest_cells)

    def training_routes(self, count: int, seed: int) -> list[RouteLinks]:
        """``count`` other random routes of the same layout and altitude (from
        ``(seed, "training-route", j)``): what a rule that generalises trains on."""
        return measure_random_routes(self.network, self.mobility, seed, "training-route", [float(np.mean(self.speed_mps))] * count)

    def assign(self, serve: ServeRule) -> None:
        """Serving cells of every drone's route from a handover rule ``serve(links) -> (P,)``."""
        self._serve([serve(links) for links in self.links])

    def _serve(self, serving: list[np.ndarray]) -> None:
        self.serving = [check_serving(cells, links, self.network.num_cells) for cells, links in zip(serving, self.links, strict=True)]
        serving = self.serving
        # On a loop, point 0 follows the last point: a change there is a handover too.
        self.handover = [np.roll(cells, 1) != cells for cells in serving]
        self.sinr_db = [self.network.sinr_db(l.rsrp_dbm, c) for l, c in zip(self.links, serving)]
        self.rate_bps = [self.network.rate_bps(sinr) for sinr in self.sinr_db]

    def _point(self, device: int, time_s: float) -> int:
        links = self.links[device]
        return int(time_s // links.step_s) % links.num_points

    def serving_cells(self, time_s: float | None = None) -> np.ndarray:
        """(N,) serving cell of every drone at ``time_s`` (default: now)."""
        t = self.time_s if time_s is None else time_s
        return np.array([self.serving[i][self._point(i, t)] for i in range(len(self.links))], dtype=np.int64)

    def serving_sinr_db(self, devices, times_s) -> np.ndarray:
        """SINR of each drone's serving cell at its time (absolute seconds)."""
        points = [self._point(int(i), float(t)) for i, t in zip(devices, np.broadcast_to(times_s, np.shape(devices)))]
        rsrp = np.array([self.links[i].rsrp_dbm[p] for i, p in zip(devices, points)]).reshape(-1, self.network.num_cells)
        serving = np.array([self.serving[i][p] for i, p in zip(devices, points)], dtype=np.int64)
        return self.network.sinr_db(rsrp, serving)

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

    def link_events(self, devices, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(handovers, radio-link failures) of each drone of ``devices`` while the clock runs from
        ``start_s`` to ``end_s`` (absolute seconds, e.g. a round): the handovers at the sample
        points reached after ``start_s`` up to ``end_s``, and the runs of out-of-sync samples (serving SINR below
        ``rlf_sinr_db``) inside the window that last longer than T310."""
        cfg = self.network.config
        handovers = np.zeros(len(devices), dtype=np.int64)
        failures = np.zeros(len(devices), dtype=np.int64)
        for k, i in enumerate(devices):
            links = self.links[int(i)]
            step = links.step_s
            # Points reached in (start, end]: adjacent windows split the flight, and time 0 is its start, no handover.
            entered = np.arange(int(start_s // step) + 1, int(end_s // step) + 1)
            handovers[k] = int(self.handover[int(i)][entered % links.num_points].sum())
            spanned = np.arange(int(start_s // step), max(int(np.ceil(end_s / step)), int(start_s // step) + 1))
            failures[k] = radio_link_failures(self.sinr_db[int(i)][spanned % links.num_points], step, cfg.rlf_sinr_db, cfg.t310_s)
        return handovers, failures

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

    def state_dict(self) -> dict:
        """The flight clock and the serving cells along every route (a learned handover rule's
        choice is kept, not retrained)."""
        return {"time_s": self.time_s, "serving": [cells.copy() for cells in self.serving]}

    def load_state_dict(self, state: dict) -> None:
        self._serve([np.asarray(cells, dtype=np.int64) for cells in state["serving"]])
        self.time_s = float(state["time_s"])
