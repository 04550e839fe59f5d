"""Restoring saved world state: arrays checked against the shape they replace.

State dicts of the World's parts hold numpy arrays and plain values (a numpy Generator's state is
its ``bit_generator.state`` dict), so whoever saves them needs neither torch nor pickle of
classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def restored_array(saved: Any, like: np.ndarray, key: str) -> np.ndarray:
    """A fresh copy of ``saved`` with the dtype of ``like``, which it must match in shape (a state
    saved by a differently configured world is an error, not a silent broadcast)."""
    array = np.array(saved, dtype=like.dtype)
    if array.shape != like.shape:
        raise ValueError(f"world state {key}: saved shape {array.shape}, this world has {like.shape}")
    return array


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """The state of a numpy Generator as a plain dict (its bit generator's own)."""
    return dict(rng.bit_generator.state)


def set_generator_state(rng: np.random.Generator, state: dict[str, Any], key: str) -> None:
    if state.get("bit_generator") != type(rng.bit_generator).__name__:
        raise ValueError(f"world state {key}: a {state.get('bit_generator')} state for a {type(rng.bit_generator).__name__}")
    rng.bit_generator.state = state
