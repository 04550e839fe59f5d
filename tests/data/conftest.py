"""Fixtures for the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import MNIST_DIR, T10K_FILES


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST t10k directory, or a clean skip where this checkout has none."""
    if not all((MNIST_DIR / name).is_file() for name in T10K_FILES):
        pytest.skip(f"real MNIST t10k files not found in {MNIST_DIR}")
    return MNIST_DIR
