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


class NothingAggregatedError(RuntimeError):
    """An asynchronous run ended before its first aggregation: no device was left to train (its
    battery empty, its availability over), so nothing was learned (one line)."""


def os_error_line(error: OSError) -> str:
    """A write or read the system refused (a full disk, a read-only folder) as one line: the file,
    the system's reason and its errno name, e.g. ``/out/rounds.csv: No space left on device [ENOSPC]``."""
    import errno

    where = error.filename if error.filename is not None else "a file"
    name = errno.errorcode.get(error.errno or 0)
    reason = error.strerror or " ".join(str(error).split())
    return f"{where}: {reason}" + (f" [{name}]" if name else "")
