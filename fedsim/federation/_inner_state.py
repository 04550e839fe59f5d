"""A wrapped strategy's state across rounds, for checkpoints, and the global generators its
calls may draw from.

Flower's strategies keep what they carry between rounds as attributes (FedAvgM's momentum,
FedAdam's moments, the adaptive DP clipping norm, the model they saw last): numbers, numpy arrays,
lists and dicts of them, and ArrayRecords. ``strategy_state`` collects exactly those attributes
(and those of a wrapped inner strategy, ``.strategy``), so a resumed run continues with them.

Flower's DP wrappers add noise with ``np.random`` and its sampler uses ``random``; fedsim calls a
wrapped strategy inside ``seeded_globals``, which seeds both from a ``(seed, purpose, round)``
stream and restores them afterwards: the same seed gives the same noise, resumed or not.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Number
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord

from ..rng import numpy_stream

_RECORD = "__arrayrecord__"


def _encodable(value: Any) -> bool:
    if isinstance(value, (Number, str, np.ndarray, ArrayRecord)) or value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(_encodable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _encodable(v) for k, v in value.items())
    return False


def _encode(value: Any) -> Any:
    if isinstance(value, ArrayRecord):
        return {_RECORD: {k: a.numpy() for k, a in value.items()}}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_RECORD}:
            return ArrayRecord({k: Array(np.asarray(v)) for k, v in value[_RECORD].items()})
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def strategy_state(strategy: Any) -> dict[str, Any]:
    """The data attributes of ``strategy`` (and of the strategy it wraps)."""
    state = {k: _encode(v) for k, v in vars(strategy).items() if not k.startswith("__") and _encodable(v)}
    inner = getattr(strategy, "strategy", None)
    if inner is not None and hasattr(inner, "__dict__"):
        state["strategy"] = strategy_state(inner)
    return state


def load_strategy_state(strategy: Any, state: dict[str, Any]) -> None:
    for key, value in state.items():
        if key == "strategy" and isinstance(value, dict) and hasattr(strategy, "strategy"):
            load_strategy_state(strategy.strategy, value)
        else:
            setattr(strategy, key, _decode(value))


@contextmanager
def seeded_globals(seed: int, purpose: str, server_round: int) -> Iterator[None]:
    """Python's and numpy's global generators seeded from ``(seed, purpose, round)`` inside."""
    saved_python, saved_numpy = random.getstate(), np.random.get_state()
    draws = numpy_stream(seed, purpose, server_round).integers(0, 2**32, size=2)
    random.seed(int(draws[0]))
    np.random.seed(int(draws[1]))
    try:
        yield
    finally:
        random.setstate(saved_python)
        np.random.set_state(saved_numpy)
