"""Atomic file writes: a reader sees the old file or the complete new one, never half of it.

The one implementation for fedsim and ``analysis`` (a leaf module: standard library only, so
``analysis`` may import it without pulling torch). ``atomic_path`` is the core; the others wrap it.
``append_durably`` is the other durable write: bytes added at the end, on disk when it returns.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path next to ``path`` for the caller to create and fill (``fig.savefig(tmp)``,
    ``tmp.open("xb")``); on a clean exit it is fsynced and renamed onto ``path``, on an exception
    it is removed and ``path`` is left as it was.

    The temp name is unique and hidden, in the same directory (same file system, so
    ``os.replace`` is atomic). The caller creates the file, so it gets the user's usual
    permissions (umask), unlike mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as error:  # a full disk, a read-only folder: name the file the user knows
        if error.filename is None or Path(error.filename) != tmp:
            raise
        raise type(error)(error.errno, error.strerror, str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """Yield a file opened for writing (``mode`` "wb" or "w"; ``open_kwargs`` such as encoding
    and newline go to ``open``) whose content replaces ``path`` atomically on a clean exit."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode={mode!r}: expected 'wb' or 'w'")
    with atomic_path(path) as tmp, open(tmp, "x" + mode[1:], **open_kwargs) as handle:
        yield handle


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_writer(path) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def append_durably(path: str | os.PathLike, data: bytes) -> int:
    """Append ``data`` to ``path`` (created if missing), flushed and fsynced before returning;
    returns the file's length in bytes after it. A kill during the call can leave part of
    ``data`` at the end: whoever recorded the length before truncates back to it."""
    with open(path, "ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
        return handle.tell()
