"""Fixtures shared across the test tree."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"


def tiny_overrides(**extra) -> dict:
    """A run small enough for unit tests: 6 devices, 3 per round, 2 rounds, a narrow MLP."""
    config = {
        "rounds": 2,
        "op": {"train_bits": 8, "uplink_bits": 8, "local_iters": 2, "devices_per_round": 3},
        "model": {"name": "mlp", "hidden": [16]},
        "world": {"num_devices": 6},
    }
    for key, value in extra.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    return config


@pytest.fixture
def shared_mnist_dir() -> Path:
    """The shared MNIST test-set directory, or a clean skip in a checkout without ../shared."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no MNIST IDX files in {SHARED_MNIST}")
    return SHARED_MNIST
