"""One writer per run directory: an OS lock held for the whole run, resume or sweep job.

``fedsim run``, ``fedsim resume`` and a sweep's jobs take an exclusive ``fcntl`` lock on
``RUN_DIR/.fedsim.lock`` before they write anything there, and hold it until they return. A second
writer is refused in one line naming the holder's PID. The kernel drops the lock when its process
dies, however it dies, so a lock file left by a killed run is taken over at once (what it says
about its old holder is only read to name a live one).

A run into a directory that already holds a run (a ledger, a summary or a checkpoint), finished or
not, is refused unless ``--overwrite`` (the old run's files are removed first) or ``fedsim resume``
is asked for.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError

LOCK_FILE = ".fedsim.lock"
# What makes a directory a run's: any of these (Hydra's own .hydra/ and logs do not count).
# What a run into a directory that holds one is refused with (by fedsim.run, and by the CLI before
# Hydra starts: Hydra would rewrite the old run's .hydra/ record first).
RUN_DIR_HOLDS_A_RUN = "a directory that holds no run yet (this one does: fedsim resume DIR continues it, --overwrite replaces it)"
RUN_FILES = ("config.yaml", "rounds.csv", "devices.csv", "summary.json", "checkpoint.pt", "model.pt", "tracking.json")


def holds_a_run(directory: Path) -> bool:
    return any((Path(directory) / name).exists() for name in RUN_FILES)


def clear_run(directory: Path) -> None:
    """Remove an earlier run's files (``--overwrite``), so nothing of it is mistaken for the new one's."""
    for name in RUN_FILES:
        (Path(directory) / name).unlink(missing_ok=True)


def _held(directory: Path, holder: str) -> ConfigError:
    return ConfigError("run_dir", str(directory), f"a directory no other fedsim process is writing (PID {holder or 'another process'} holds it)")


def check_not_held(directory: Path) -> None:
    """ConfigError (as ``run_directory_lock`` gives) if a live process holds ``directory``'s lock;
    the lock is only tried, never kept, and no file is made."""
    path = Path(directory) / LOCK_FILE
    if not path.is_file():
        return
    with open(path) as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _held(Path(directory), handle.read().strip()) from None


@contextmanager
def run_directory_lock(directory: Path) -> Iterator[None]:
    """Hold the directory's writer lock inside; ConfigError (one line) if another process holds it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / LOCK_FILE, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise _held(directory, handle.read().strip()) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing drops the lock
