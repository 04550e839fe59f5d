"""Atomic checkpoint writes for kernels (standalone: kernels never imports fedsim)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(target: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(f)`` on a hidden temp file beside ``target``, fsync it and ``os.replace`` it
    onto ``target``, so a crash never leaves a half checkpoint; on failure the temp file is removed.
    Opened with "xb", the file gets the user's usual permissions (umask), not mkstemp's 0600."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
