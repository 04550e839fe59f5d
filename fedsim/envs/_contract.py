"""Gymnasium's step contract, as both environments enforce it: reset() before the first step and
again once an episode has ended (terminated or truncated), and only actions of the action space."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

NOT_STARTED = "call reset() before step()"
ENDED = "call reset() before step() after the episode ended (terminated or truncated)"


def checked_action(space: spaces.Space, action: Any, allowed: str) -> Any:
    """``action`` if ``space.contains`` it and it holds integers (a float such as 1.5 or 1.0 is not
    an action of a discrete space, though numpy would cast it); ValueError in one line otherwise."""
    values = np.asarray(action) if isinstance(action, (list, tuple, np.ndarray, np.generic)) else action
    integral = isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.integer) and values.dtype != np.bool_
    if not (integral or (isinstance(values, int) and not isinstance(values, bool))) or not space.contains(values):
        raise ValueError(f"action={action!r} is not allowed: {allowed}")
    return values
