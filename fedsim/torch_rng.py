"""Named torch random streams, derived from the same ``(seed, purpose, *keys)`` as ``fedsim.rng``."""

from __future__ import annotations

import numpy as np
import torch

from fedsim.rng import seed_sequence


def torch_stream(seed: int, purpose: str, *keys: int) -> torch.Generator:
    """A CPU torch Generator for ``(seed, purpose, *keys)``."""
    state = seed_sequence(seed, purpose, *keys).generate_state(1, dtype=np.uint64)[0]
    generator = torch.Generator()
    generator.manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)
    return generator
