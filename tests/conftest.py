"""Fixtures shared across the test tree."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture
def shared_mnist_dir() -> Path:
    """The shared MNIST test-set directory, or a clean skip in a checkout without ../shared."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no MNIST IDX files in {SHARED_MNIST}")
    return SHARED_MNIST
