"""Value checks shared by the world's dataclasses: each failure is a ConfigError naming the key."""

from __future__ import annotations

import math
from numbers import Integral, Real

from fedsim.errors import ConfigError


def check_positive(key: str, value: object) -> None:
    """A finite real number > 0 (bools are rejected: True is not a power)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not (
        math.isfinite(value) and value > 0
    ):
        raise ConfigError(key, value, "a finite number > 0")


def check_int_at_least(key: str, value: object, minimum: int) -> None:
    """An integer (Python or numpy) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ConfigError(key, value, f"an integer >= {minimum}")
