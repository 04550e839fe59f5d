"""Rates to resource blocks and power: the least total power that carries every user's rate.

Model (reconstruction, urllc.md): within a slot each user's channel is flat over the band (the
16 × 180 kHz of the default cell lie within a coherence bandwidth), so a user given m resource
blocks spreads its bits evenly, each block carrying b/m bits over n channel uses at the SNR
γ(b/(m·n)) of the finite-blocklength rate. Its power is
  P_u(m) = m · γ(b_u/(m·n)) · N / g_u,       N = noise power per block,
which is convex and decreasing in m (the perspective of the convex γ(·)). The problem
  min Σ_u P_u(m_u)  s.t.  Σ_u m_u ≤ B,  m_u ≥ 1 integer for every user with bits
is separable convex over integers, so greedy marginal allocation — start every active user at one
block, then give each remaining block to the user whose power falls most — is exact (Gross 1956;
Ibaraki & Katoh, "Resource Allocation Problems", 1988). ``brute_force_allocation`` enumerates
every split for the tests. When the minimum exceeds the power budget the rates are infeasible:
the allocation says so and the cell serves what the budget allows (see ``UrllcCell``).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from fedsim.errors import ConfigError
from fedsim.world._fbl import fbl_snr_for_rate


@dataclass(frozen=True, eq=False)
class RbAllocation:
    blocks: np.ndarray  # (U,) resource blocks per user
    power_w: np.ndarray  # (U,) total power per user over its blocks
    feasible: bool  # within the power budget

    @property
    def total_power_w(self) -> float:
        return float(self.power_w.sum())


@lru_cache(maxsize=4096)
def _snr_per_block(bits: float, blocks: int, channel_uses: float, epsilon: float) -> float:
    """γ(b/(m·n)): memoised, since a slot's bits come in whole packets and m in whole blocks."""
    return float(fbl_snr_for_rate(bits / (blocks * channel_uses), channel_uses, epsilon))


def user_power_w(bits: float, blocks: int, gain: float, noise_w: float, channel_uses: float, epsilon: float) -> float:
    """P_u(m): the power that carries ``bits`` over ``blocks`` blocks at channel gain ``gain``."""
    if bits <= 0:
        return 0.0
    return blocks * _snr_per_block(float(bits), int(blocks), float(channel_uses), float(epsilon)) * noise_w / gain


def allocate_blocks(
    bits: ArrayLike, gain: ArrayLike, *, blocks: int, noise_w: float, channel_uses: float, epsilon: float, max_power_w: float
) -> RbAllocation:
    """The exact least-power split of ``blocks`` resource blocks among users (greedy marginal)."""
    b = np.asarray(bits, dtype=float)
    g = np.asarray(gain, dtype=float)
    active = np.flatnonzero(b > 0)
    if active.size > blocks:
        raise ConfigError("urllc.resource_blocks", blocks, f"at least {active.size} (one block per user with data)")
    m = np.zeros(b.size, dtype=np.int64)
    m[active] = 1
    power = np.zeros(b.size)
    cost = lambda u, k: user_power_w(b[u], k, g[u], noise_w, channel_uses, epsilon)  # noqa: E731
    for u in active:
        power[u] = cost(u, 1)
    # A max-heap of each user's saving from one more block; savings shrink as m grows (convexity).
    heap = [(-(power[u] - cost(u, 2)), int(u)) for u in active]
    heapq.heapify(heap)
    for _ in range(blocks - active.size):
        if not heap:
            break
        saving, u = heapq.heappop(heap)
        if -saving <= 0:
            break
        m[u] += 1
        power[u] = cost(u, m[u])
        heapq.heappush(heap, (-(power[u] - cost(u, m[u] + 1)), u))
    return RbAllocation(m, power, bool(power.sum() <= max_power_w * (1 + 1e-12)))


def brute_force_allocation(bits: ArrayLike, gain: ArrayLike, *, blocks: int, noise_w: float, channel_uses: float, epsilon: float) -> tuple[np.ndarray, float]:
    """Every split of the blocks among the active users (small instances only): the best one."""
    b = np.asarray(bits, dtype=float)
    active = np.flatnonzero(b > 0)
    best, best_power = None, np.inf
    for split in itertools.product(range(1, blocks + 1), repeat=active.size):
        if sum(split) > blocks:
            continue
        total = sum(user_power_w(b[u], k, float(gain[u]), noise_w, channel_uses, epsilon) for u, k in zip(active, split))
        if total < best_power:
            best, best_power = split, total
    m = np.zeros(b.size, dtype=np.int64)
    if best is not None:
        m[active] = best
    return m, float(best_power if best is not None else 0.0)
