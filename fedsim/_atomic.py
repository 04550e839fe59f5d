"""Atomic file writes: a reader sees the old file or the complete new one, never half of it.

The one implementation for fedsim and ``analysis`` (a leaf module: standard library only, so
``analysis`` may import it without pulling torch). ``atomic_path`` is the core; the others wrap it.
``append_durably`` is the other durable write: bytes added at the end, on disk when it returns.

Inside ``write_behind()`` (a run's rounds) the per-round writes keep their order but not their
wait: ``append_durably`` and ``atomic_write_bytes_behind`` put the bytes in the file system at
once (a killed process loses nothing the kernel holds) and leave the fsync, and the checkpoint's
rename after it, to one background thread that works in submission order. A power loss can
therefore lose the last rounds, never reorder them: a checkpoint is renamed into place only
after the ledger rows it counts are on disk. Any other durable write waits for the queue first,
and leaving the block waits for it too. An fsync costs ~7 ms on this kind of disk and a round
wrote three, which was a third of a small federation's loop.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
    drain_write_behind()  # durable writes land in program order
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, path)
    except OSError as error:
        raise _named(error, tmp, path) from None
    finally:
        tmp.unlink(missing_ok=True)


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def _named(error: OSError, tmp: Path, path: Path) -> OSError:
    """A full disk, a read-only folder: the error names the file the user knows, not the temp."""
    if error.filename is None or Path(error.filename) != tmp:
        return error
    return type(error)(error.errno, error.strerror, str(path))


def _fsync_path(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    """Append ``data`` to ``path`` (created if missing), flushed and fsynced before returning
    (inside ``write_behind()``: fsynced by its thread, in order); returns the file's length in
    bytes after it. A kill during the call can leave part of ``data`` at the end: whoever
    recorded the length before truncates back to it."""
    with open(path, "ab") as handle:
        handle.write(data)
        handle.flush()
        if _behind is None:
            os.fsync(handle.fileno())
        length = handle.tell()
    if _behind is not None:
        _behind.submit(lambda: _fsync_path(path))
    return length


def atomic_write_bytes_behind(path: str | os.PathLike, data: bytes) -> Path:
    """``atomic_write_bytes``, but inside ``write_behind()`` the fsync and the rename onto
    ``path`` happen on its thread, after every write submitted before: until then readers see
    the previous file (a kill leaves that one, and a hidden temp file beside it)."""
    if _behind is None:
        return atomic_write_bytes(path, data)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise _named(error, tmp, path) from None

    def land() -> None:
        try:
            _fsync_path(tmp)
            os.replace(tmp, path)
        except OSError as error:
            tmp.unlink(missing_ok=True)
            raise _named(error, tmp, path) from None

    _behind.submit(land)
    return path


class _WriteBehind:
    """One thread that runs the submitted durability steps in order; the first failure is
    raised in the caller at its next submit or drain."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedsim-write-behind")
        self._pending: list[Future] = []

    def submit(self, step: Callable[[], None]) -> None:
        self._raise_done()
        self._pending.append(self._executor.submit(step))

    def _raise_done(self) -> None:
        while self._pending and self._pending[0].done():
            self._pending.pop(0).result()

    def drain(self) -> None:
        pending, self._pending = self._pending, []
        errors = [f.exception() for f in pending]  # waits for each, in order
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    def close(self) -> None:
        self._executor.shutdown(wait=True)


_behind: _WriteBehind | None = None
_behind_lock = threading.Lock()


@contextmanager
def write_behind() -> Iterator[None]:
    """Within the block, per-round durable writes wait for no fsync (see the module's note);
    on leaving it every submitted write is on disk, and a failure among them is raised (unless
    the block is already raising)."""
    global _behind
    with _behind_lock:
        if _behind is not None:  # nested: the outer block owns the queue
            outer = True
        else:
            outer, _behind = False, _WriteBehind()
    if outer:
        yield
        return
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        behind, _behind = _behind, None
        try:
            behind.drain()
        except OSError:
            if not failed:
                raise
        finally:
            behind.close()


def drain_write_behind() -> None:
    """Wait until every write submitted inside ``write_behind()`` is on disk (no-op outside)."""
    if _behind is not None:
        _behind.drain()
