"""An environment's config section from a config object, a plain mapping (``gymnasium.make``
keyword arguments) or None (the defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def section(kind: type[T], value: T | Mapping | None) -> T:
    if value is None:
        return kind()
    if isinstance(value, kind):
        return value
    return kind(**dict(value))
