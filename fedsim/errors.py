"""Errors a user can act on: each names the key, the offending value and what is allowed."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A configuration value is outside what fedsim accepts.

    The message is a single line, ``key=value is not allowed: <allowed>``, so the CLI can print it
    as-is and exit non-zero before any work starts.
    """

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")

    def under(self, prefix: str) -> "ConfigError":
        """The same error with its key placed under a section path (``radio`` + ``tx_power_w``)."""
        return ConfigError(f"{prefix}.{self.key}" if prefix else self.key, self.value, self.allowed)


class DataError(RuntimeError):
    """A dataset could not be read, found or verified (missing files, bad IDX header, bad checksum)."""


class ClientAppError(RuntimeError):
    """Every client of a run failed, so nothing was learned (one line, naming the first error)."""


class ModelDivergedError(RuntimeError):
    """The global model became non-finite (NaN/inf), so the run stopped at that round (one line)."""
