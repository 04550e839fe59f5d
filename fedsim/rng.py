"""Named random streams: every draw comes from ``(seed, purpose, *keys)``.

Deriving each stream from its purpose and coordinates (device, round, ...) rather than from one
shared generator makes a draw independent of the order in which other draws happen, so the same
seed gives the same ledger however the engine schedules clients. numpy only: torch streams are
in ``fedsim.torch_rng``, so the World (which draws from here) never imports torch.
"""

from __future__ import annotations

import zlib

import numpy as np


def _purpose_code(purpose: str) -> int:
    # Python's hash() is salted per process; crc32 is stable across processes and machines.
    return zlib.crc32(purpose.encode("utf-8"))


def seed_sequence(seed: int, purpose: str, *keys: int) -> np.random.SeedSequence:
    """The SeedSequence of one named stream."""
    return np.random.SeedSequence([int(seed), _purpose_code(purpose), *(int(k) for k in keys)])


def numpy_stream(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    """A numpy Generator for ``(seed, purpose, *keys)``."""
    return np.random.default_rng(seed_sequence(seed, purpose, *keys))
