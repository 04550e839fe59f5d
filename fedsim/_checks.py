"""Small validators that raise ConfigError with the key, the value and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

from .errors import ConfigError


def check_int(key: str, value: Any, low: int | None = None, high: int | None = None, allowed: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        if not (isinstance(value, float) and value.is_integer()):
            raise ConfigError(key, value, allowed or _int_range(low, high))
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(key, value, allowed or _int_range(low, high))
    return value


def _int_range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an integer in [{low}, {high}]"
    if low is not None:
        return f"an integer >= {low}"
    return f"an integer <= {high}"


def check_float(
    key: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    # An unbounded end is open: inf and nan are never a value (the text must not say "(0, inf]").
    lo_br, hi_br = ("(" if low_open or low is None else "["), (")" if high_open or high is None else "]")
    lo_txt = "-inf" if low is None else f"{low:g}"
    hi_txt = "inf" if high is None else f"{high:g}"
    allowed = f"a number in {lo_br}{lo_txt}, {hi_txt}{hi_br}"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ConfigError(key, value, allowed)
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ConfigError(key, value, allowed)
    if high is not None and (value > high or (high_open and value == high)):
        raise ConfigError(key, value, allowed)
    return value


def check_choice(key: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(key, value, f"one of {', '.join(choices)}")
    return value


def check_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "true or false")
    return value


def check_optional_str(key: str, value: Any, allowed: str) -> str | None:
    """A string (a path, a name) or None; a list or a number is refused, not coerced."""
    if value is not None and not isinstance(value, str):
        raise ConfigError(key, value, allowed)
    return value


def check_list(key: str, value: Any, allowed: str, length: int | None = None) -> list[Any]:
    """A list (or tuple) of ``length`` items, if given; the items are checked by the caller."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or (length is not None and len(value) != length):
        raise ConfigError(key, value, allowed)
    return list(value)
