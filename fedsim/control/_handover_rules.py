"""Handover rules: who serves a drone at each sample point of its route.

A rule is built from the ``handover`` section, the layout's bounds and a seed; ``fit`` trains it
on routes (learned rules), ``serve`` gives the (P,) serving cells of a measured route.

- ``strongest``: the maximum-RSRP cell at every point (the papers' baseline).
- ``a3``: 3GPP event A3, what real networks run: hand over to a neighbour once
  RSRP_n - hysteresis > RSRP_s + offset has held for the time-to-trigger (rounded up to whole
  sample points, at least one).
- ``q_learning``: a tabular Q-function per route, trained over repeated flights of it.
- ``dqn``: a deep Q-network over route features (``fedsim.rl``), trained on random routes, so it
  serves routes it has never flown. Listed here by import string: torch loads only when used.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence

import numpy as np

from fedsim.control._handover_config import HandoverConfig
from fedsim.control._handover_mdp import HandoverMDP
from fedsim.control._q_learning import greedy_serving, train_q_table
from fedsim.world import RouteLinks
from fedsim.world._handover import strongest_cells


class HandoverRule:
    """Base rule: nothing to learn. A rule that ``learns_across_routes`` is ``fit`` on other
    routes before it serves; the rest need nothing (Q-learning trains on the route it serves)."""

    learns_across_routes = False

    def __init__(self, config: HandoverConfig, bounds_m: tuple[float, float, float, float], seed: int = 0) -> None:
        self.config = config
        self.bounds_m = bounds_m
        self.seed = int(seed)

    def mdp(self, links: RouteLinks) -> HandoverMDP:
        return HandoverMDP(links, self.config, self.bounds_m)

    def fit(self, routes: Sequence[RouteLinks]) -> "HandoverRule":
        return self

    def serve(self, links: RouteLinks) -> np.ndarray:
        raise NotImplementedError


class StrongestCell(HandoverRule):
    def serve(self, links: RouteLinks) -> np.ndarray:
        return strongest_cells(links)


class A3Event(HandoverRule):
    def serve(self, links: RouteLinks) -> np.ndarray:
        cfg = self.config
        rsrp = links.rsrp_dbm
        ttt_points = max(1, math.ceil(cfg.a3_ttt_s / links.step_s - 1e-9))
        serving = np.empty(rsrp.shape[0], dtype=np.int64)
        cell = int(np.argmax(rsrp[0]))
        held = np.zeros(rsrp.shape[1], dtype=np.int64)  # consecutive points each neighbour met A3
        for t in range(rsrp.shape[0]):
            entering = rsrp[t] - cfg.a3_hysteresis_db > rsrp[t, cell] + cfg.a3_offset_db
            entering[cell] = False
            held = np.where(entering, held + 1, 0)
            ready = held >= ttt_points
            if ready.any():
                cell = int(np.flatnonzero(ready)[np.argmax(rsrp[t, ready])])
                held[:] = 0
            serving[t] = cell
        return serving


class QLearningHandover(HandoverRule):
    """One Q-table per route, trained when the route is first served (the route is known)."""

    def q_table(self, links: RouteLinks) -> np.ndarray:
        return train_q_table(self.mdp(links), self.config, self.seed)

    def serve(self, links: RouteLinks) -> np.ndarray:
        mdp = self.mdp(links)
        return greedy_serving(mdp, train_q_table(mdp, self.config, self.seed))


HANDOVER_RULES: dict[str, str] = {
    "strongest": "fedsim.control._handover_rules:StrongestCell",
    "a3": "fedsim.control._handover_rules:A3Event",
    "q_learning": "fedsim.control._handover_rules:QLearningHandover",
    "dqn": "fedsim.rl._dqn:DqnHandover",  # torch: a layer above control
}


def build_handover_rule(config: HandoverConfig, bounds_m: tuple[float, float, float, float], seed: int = 0) -> HandoverRule:
    module, _, cls = HANDOVER_RULES[config.rule].partition(":")
    return getattr(importlib.import_module(module), cls)(config, bounds_m, seed)


def assign_handover(world, config: HandoverConfig) -> HandoverRule:
    """Build the configured rule, train it if it learns across routes (on other random routes of
    the layout, never the drones' own), and give the World's drones their serving cells."""
    drones = world.drones
    rule = build_handover_rule(config, drones.network.bounds_m, world.seed)
    if rule.learns_across_routes:
        rule.fit(drones.training_routes(config.training_routes, world.seed))
    drones.assign(rule.serve)
    return rule
