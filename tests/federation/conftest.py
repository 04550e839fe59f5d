"""Shared fixtures of the federation tests."""

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Trained TinyLM bases are cached in the session's temp dir, never in the user's cache."""
    monkeypatch.setenv("FEDSIM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fedsim-cache"))
