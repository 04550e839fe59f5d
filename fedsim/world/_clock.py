"""Advancing the round's simpy clock in one step where that is exactly the event-by-event replay.

A synchronous round's events (the broadcast done, each upload arriving, the round's end) are
all computed in numpy before the clock moves, and no process observes them one by one: replaying
them as K timeouts only moves ``env.now`` through the sorted times. simpy moves the clock by
``now + (t - now)``, which is ``t`` exactly unless the subtraction rounds, so the replay ends at
the largest time whenever every step lands on its own time. ``single_step_end_s`` checks that for
all steps at once (a few numpy calls instead of K simpy events); where a step would round, the
caller replays the events as before and the clock stays bit-for-bit what it was.
"""

from __future__ import annotations

import numpy as np


def single_step_end_s(now_s: float, times_s: np.ndarray) -> float | None:
    """Where a replay of timeouts to each of ``times_s`` (in order; earlier ones skipped) leaves a
    clock at ``now_s``, if one timeout from ``now_s`` lands there too; None: replay them."""
    if times_s.size == 0:
        return now_s
    # The clock before each step, if every earlier step landed on its own time.
    before = np.maximum.accumulate(np.concatenate(([now_s], times_s[:-1])))
    step = times_s > before
    with np.errstate(invalid="ignore"):  # inf - inf: such a step never lands, so we replay
        landed = before[step] + (times_s[step] - before[step])
    if not np.array_equal(landed, times_s[step]):
        return None
    end_s = float(before[-1]) if times_s[-1] <= before[-1] else float(times_s[-1])
    if end_s > now_s and now_s + (end_s - now_s) != end_s:
        return None  # one timeout from now_s would round off the replay's end
    return end_s
