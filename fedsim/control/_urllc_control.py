"""The URLLC control problem: what a rate-deciding agent sees, what it is rewarded for, and the
model-based oracle it is measured against (Kasgari et al., reconstructed; urllc.md).

Each slot the controller picks, per user, how many queued packets to send (a rate level in
0..levels-1, times the packet size); the cell maps the rates to blocks and power exactly.
Per-user features: queue length and head-of-line age (of the deadline), whether the head packet
is due now, the channel's SNR per block in dB, and the arrival rate per slot. Per-user reward:
-w_power·P_u/P_max - w_loss·(late + undecoded packets): power minimisation with the reliability
constraint priced in.

Oracle (knows the true traffic and channel statistics, regime changes included): each packet is
served at the first age a at which its cost c(g) = min(K/g, P_max) (K/g: the power of one packet
on an equal share of the blocks) does not exceed the expected cost of waiting, V(a+1), with
V(D) = E[c] and V(a) = E[min(c, V(a+1))] under Rayleigh fading — optimal stopping per packet, by
backward induction. It is the model-based benchmark, not a learned policy.
"""

from __future__ import annotations

import numpy as np

from fedsim.world._rb_mapping import user_power_w
from fedsim.world._urllc import SlotOutcome, UrllcCell

RATE_LEVELS = 4  # send 0, 1, 2 or 3 packets per user per slot
NUM_FEATURES = 5
_QUANTILES = (np.arange(4000) + 0.5) / 4000  # Exp(1) fading, by deterministic quantiles


def user_features(cell: UrllcCell) -> np.ndarray:
    """(U, NUM_FEATURES) float32 features of every user now."""
    cfg = cell.config
    q = cell.queue_lengths()
    age = cell.head_age_slots()
    snr_db = 10.0 * np.log10(cell.gain * cfg.max_power_w / cfg.resource_blocks / cfg.noise_per_rb_w)
    return np.column_stack([
        np.minimum(q / (RATE_LEVELS - 1), 2.0),
        age / cfg.deadline_slots,
        (age >= cfg.deadline_slots).astype(float),
        np.clip((snr_db - 20.0) / 20.0, -2.0, 2.0),
        np.minimum(cell.arrival_rate_per_s() * cfg.slot_s, 2.0),
    ]).astype(np.float32)


def user_rewards(outcome: SlotOutcome, cell: UrllcCell, w_power: float = 1.0, w_loss: float = 10.0) -> np.ndarray:
    """(U,) rewards of a slot."""
    lost = outcome.late + outcome.decode_failures
    return -w_power * outcome.allocation.power_w / cell.config.max_power_w - w_loss * lost


class UrllcOracle:
    """Optimal stopping per packet under the true statistics (see the module docstring)."""

    def __init__(self, cell: UrllcCell) -> None:
        self.cell = cell

    def _packet_power_constant(self) -> float:
        cfg = self.cell.config
        share = max(1, cfg.resource_blocks // cfg.users)
        # user_power_w is linear in 1/gain: its value at gain 1 is K.
        return user_power_w(cfg.packet_bits, share, 1.0, cfg.noise_per_rb_w, cfg.channel_uses, cfg.decoding_error)

    def thresholds(self) -> np.ndarray:
        """(U, D) the cost V(a+1) of waiting at each age a = 1..D (the last: inf, always send)."""
        cell = self.cell
        cfg = cell.config
        k = self._packet_power_constant()
        mean_gain = cell.mean_gain * 10.0 ** (-cell.gain_offset_now_db() / 10.0)
        x = -np.log1p(-_QUANTILES)  # Exp(1) quantiles
        cost = np.minimum(k / (mean_gain[:, None] * x[None, :]), cfg.max_power_w)  # (U, Q)
        d = cfg.deadline_slots
        wait = np.empty((cfg.users, d))
        wait[:, d - 1] = np.inf
        value = cost.mean(axis=1)  # V(D): must send
        for a in range(d - 2, -1, -1):
            wait[:, a] = value
            value = np.minimum(cost, value[:, None]).mean(axis=1)
        return wait

    def decide(self) -> np.ndarray:
        cell = self.cell
        cfg = cell.config
        k = self._packet_power_constant()
        now_cost = np.minimum(k / cell.gain, cfg.max_power_w)
        wait = self.thresholds()
        send = np.zeros(cfg.users, dtype=np.int64)
        for u, queue in enumerate(cell.queues):
            for arrived in queue:
                age = min(cell.slot - arrived + 1, cfg.deadline_slots)
                send[u] += now_cost[u] <= wait[u, age - 1]
        return np.minimum(send, RATE_LEVELS - 1)
