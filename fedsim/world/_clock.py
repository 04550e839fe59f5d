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


def single_step_end_s(now_s: float, first_s: float, times_s: np.ndarray, last_s: float) -> float | None:
    """Where a replay of timeouts to ``first_s``, then to each of ``times_s`` in increasing order,
    then to ``last_s`` (each skipped when not after the clock) leaves a clock at ``now_s``, if one
    timeout from ``now_s`` lands there too; None: replay them. ``times_s`` may be unsorted."""
    end_s = max(now_s, first_s, last_s, float(times_s.max()) if times_s.size else now_s)
    if end_s > now_s and now_s + (end_s - now_s) != end_s:
        return None  # one timeout from now_s would round off the replay's end
    # Cheap sufficient case: after the first step, every clock is >= its target and every time
    # is <= end_s <= 2 * that target, so each later difference is exact (Sterbenz) and lands.
    if first_s > now_s:
        target_s = first_s
    else:
        later = times_s[times_s > now_s]
        target_s = float(later.min()) if later.size else last_s
    if target_s <= now_s or (now_s + (target_s - now_s) == target_s and end_s <= 2.0 * target_s):
        return end_s
    # Otherwise check each step in replay order: the clock before it is the running maximum.
    ordered = np.concatenate(([first_s], np.sort(times_s), [last_s]))
    before = np.maximum.accumulate(np.concatenate(([now_s], ordered[:-1])))
    step = ordered > before
    with np.errstate(invalid="ignore"):  # inf - inf: such a step never lands, so we replay
        landed = before[step] + (ordered[step] - before[step])
    return end_s if np.array_equal(landed, ordered[step]) else None
