"""fedsim._atomic, the one atomic-write helper of fedsim and analysis: umask permissions, no leftovers."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from fedsim._atomic import atomic_path, atomic_write_bytes, atomic_write_text, atomic_writer
from fedsim.data._download import _fetch


@pytest.fixture(params=[(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=lambda p: oct(p[0]))
def umask(request):
    """Run the test under a umask and return the file mode it implies (not mkstemp's fixed 0600)."""
    mask, expected = request.param
    old = os.umask(mask)
    try:
        yield expected
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_writer_honours_the_umask(tmp_path: Path, umask: int) -> None:
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "sub" / "b.txt", "héllo\n")  # parent directories are created
    with atomic_writer(tmp_path / "c.csv", "w", newline="", encoding="utf-8") as fh:
        fh.write("x,y\r\n")
    with atomic_path(tmp_path / "d.bin") as tmp:
        tmp.write_bytes(b"streamed")  # e.g. fig.savefig(tmp) or torch.save(obj, tmp)
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "c.csv").read_bytes() == b"x,y\r\n"
    assert (tmp_path / "d.bin").read_bytes() == b"streamed"
    for name in ("a.bin", "sub/b.txt", "c.csv", "d.bin"):
        assert _mode(tmp_path / name) == umask, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "c.csv", "d.bin", "sub"]


@pytest.mark.parametrize("existing", [None, b"old"])
def test_a_failure_leaves_neither_target_nor_temp_file(tmp_path: Path, existing: bytes | None) -> None:
    target = tmp_path / "out.bin"
    if existing is not None:
        target.write_bytes(existing)
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_writer(target) as fh:
            fh.write(b"half")
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    if existing is None:
        assert list(tmp_path.iterdir()) == []
    else:
        assert list(tmp_path.iterdir()) == [target] and target.read_bytes() == existing


def test_atomic_path_needs_the_caller_to_create_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "never.bin"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_writer_rejects_other_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        with atomic_writer(tmp_path / "x", "ab"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_download_writes_through_the_helper(tmp_path: Path, umask: int) -> None:
    src = tmp_path / "mirror" / "file.gz"
    src.parent.mkdir()
    src.write_bytes(b"payload" * 1000)
    dest_dir = tmp_path / "cache"
    dest_dir.mkdir()
    dest = dest_dir / "file.gz"
    with pytest.raises(ValueError, match="md5"):
        _fetch(src.as_uri(), dest, "0" * 32)
    assert list(dest_dir.iterdir()) == []  # a corrupt download leaves nothing
    _fetch(src.as_uri(), dest, hashlib.md5(src.read_bytes()).hexdigest())
    assert dest.read_bytes() == src.read_bytes()
    assert _mode(dest) == umask
    assert list(dest_dir.iterdir()) == [dest]


# -- write_behind: a run's per-round fsyncs on one thread, in order ----------------------------

def test_write_behind_lands_writes_in_order_and_renames_after_the_rows(tmp_path: Path, monkeypatch) -> None:
    import threading

    from fedsim import _atomic

    synced: list[str] = []
    release = threading.Event()
    real_fsync = _atomic._fsync_path

    def slow_fsync(path) -> None:
        release.wait(10)  # the run's thread goes on meanwhile
        synced.append(Path(path).name.split(".")[1] if Path(path).name.startswith(".") else Path(path).name)
        real_fsync(path)

    monkeypatch.setattr(_atomic, "_fsync_path", slow_fsync)
    ledger, checkpoint = tmp_path / "rounds.csv", tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"round 0")
    with _atomic.write_behind():
        assert _atomic.append_durably(ledger, b"row 1\n") == 6  # the length, at once
        _atomic.atomic_write_bytes_behind(checkpoint, b"round 1")
        assert ledger.read_bytes() == b"row 1\n"  # the bytes are in the file system already
        assert checkpoint.read_bytes() == b"round 0"  # not renamed before the rows are on disk
        assert synced == []
        release.set()
    assert synced == ["rounds.csv", "checkpoint"]  # the rows, then the checkpoint's temp file
    assert checkpoint.read_bytes() == b"round 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "rounds.csv"]  # no temp left


def test_write_behind_raises_a_failed_write_naming_the_file(tmp_path: Path, monkeypatch) -> None:
    import errno

    from fedsim import _atomic

    def full_disk(path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(_atomic, "_fsync_path", full_disk)
    target = tmp_path / "checkpoint.pt"
    with pytest.raises(OSError) as raised:
        with _atomic.write_behind():
            _atomic.atomic_write_bytes_behind(target, b"x")
    assert raised.value.filename == str(target) and raised.value.errno == errno.ENOSPC  # the file the user knows
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temp file


def test_a_synchronous_write_waits_for_the_queue_and_outside_nothing_is_deferred(tmp_path: Path) -> None:
    from fedsim import _atomic

    checkpoint = tmp_path / "checkpoint.pt"
    with _atomic.write_behind():
        with _atomic.write_behind():  # nested: the outer block owns the queue
            _atomic.atomic_write_bytes_behind(checkpoint, b"1")
        atomic_write_text(tmp_path / "summary.json", "{}")  # drains first: program order on disk
        assert checkpoint.read_bytes() == b"1"
    _atomic.atomic_write_bytes_behind(checkpoint, b"2")  # no block: an ordinary atomic write
    assert checkpoint.read_bytes() == b"2"
