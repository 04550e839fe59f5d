"""The ``handover`` section: which rule picks a drone's serving cell, and its constants.

Constants are assumptions (the papers' are not public; handover.md): the reward
w_rsrp·RSRP_norm - w_ho·1{handover} with RSRP normalised over [rsrp_floor_dbm, rsrp_ceiling_dbm];
Q-learning's α = 0.5, ε = 0.25 decaying ×0.99 per flight follow a public reimplementation; the A3
offset, hysteresis and time-to-trigger are common 3GPP operator settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedsim._checks import check_choice, check_float, check_int

HANDOVER_RULE_NAMES = ("strongest", "a3", "q_learning", "dqn")


@dataclass(frozen=True)
class HandoverConfig:
    rule: str = "strongest"  # strongest (max RSRP) | a3 (3GPP event A3) | q_learning (Q-table per route) | dqn (deep Q-network)
    candidates: int = 6  # k: the strongest cells a learned rule may hand over to
    w_rsrp: float = 1.0  # reward weight of the normalised RSRP
    w_ho: float = 0.0  # reward penalty per handover
    rsrp_floor_dbm: float = -110.0  # RSRP normalised to 0 (anything below too)
    rsrp_ceiling_dbm: float = -60.0  # RSRP normalised to 1 (anything above too)
    a3_offset_db: float = 3.0  # a3: margin a neighbour's RSRP must beat the serving cell's by
    a3_hysteresis_db: float = 1.0  # a3: hysteresis subtracted from the neighbour's RSRP
    a3_ttt_s: float = 0.32  # a3: time-to-trigger, rounded up to whole sample points
    episodes: int = 300  # Q-learning: training flights per route
    dqn_episodes: int = 100  # DQN: training flights over all its training routes
    alpha: float = 0.5  # q_learning: learning rate α
    gamma: float = 0.3  # discount factor γ (q_learning, dqn)
    epsilon: float = 0.25  # initial ε of the ε-greedy exploration (q_learning, dqn)
    epsilon_decay: float = 0.99  # ε is multiplied by this after each training flight
    dqn_hidden: int = 64  # dqn: width of the Q-network's two hidden layers
    dqn_lr: float = 1e-3  # dqn: Adam learning rate
    dqn_batch: int = 64  # dqn: transitions per gradient step (replay mini-batch)
    dqn_buffer: int = 20_000  # dqn: replay buffer capacity in transitions
    dqn_target_sync: int = 200  # gradient steps between target-network copies
    training_routes: int = 8  # DQN: random routes it trains on

    def __post_init__(self) -> None:
        check_choice("rule", self.rule, HANDOVER_RULE_NAMES)
        check_int("candidates", self.candidates, 1)
        check_float("w_rsrp", self.w_rsrp, low=0)
        check_float("w_ho", self.w_ho, low=0)
        check_float("rsrp_floor_dbm", self.rsrp_floor_dbm)
        check_float("rsrp_ceiling_dbm", self.rsrp_ceiling_dbm, low=self.rsrp_floor_dbm, low_open=True)
        check_float("a3_offset_db", self.a3_offset_db)
        check_float("a3_hysteresis_db", self.a3_hysteresis_db, low=0)
        check_float("a3_ttt_s", self.a3_ttt_s, low=0)
        check_int("episodes", self.episodes, 1)
        check_int("dqn_episodes", self.dqn_episodes, 1)
        check_float("alpha", self.alpha, low=0, low_open=True, high=1)
        check_float("gamma", self.gamma, low=0, high=1, high_open=True)
        check_float("epsilon", self.epsilon, low=0, high=1)
        check_float("epsilon_decay", self.epsilon_decay, low=0, high=1)
        check_int("dqn_hidden", self.dqn_hidden, 1)
        check_float("dqn_lr", self.dqn_lr, low=0, low_open=True)
        check_int("dqn_batch", self.dqn_batch, 1)
        check_int("dqn_buffer", self.dqn_buffer, self.dqn_batch)
        check_int("dqn_target_sync", self.dqn_target_sync, 1)
        check_int("training_routes", self.training_routes, 1)
