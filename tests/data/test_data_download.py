"""download_idx over file:// mirrors: verified copies, mirror fallback, no partial files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from data_helpers import T10K_FILES

from fedsim.data import download_idx, read_idx
from fedsim.data._download import CHECKSUMS
from fedsim.errors import ConfigError, DataError


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_t10k_from_file_mirror(mnist_dir: Path, tmp_path: Path) -> None:
    root = download_idx("mnist", tmp_path / "cache", base_urls=[mnist_dir.as_uri()], files=T10K_FILES)
    assert root == tmp_path / "cache"
    assert sorted(p.name for p in root.iterdir()) == sorted(T10K_FILES)  # no temp files left
    for name in T10K_FILES:
        assert _md5(root / name) == CHECKSUMS["mnist"][name]
    assert read_idx(root / T10K_FILES[1]).shape == (10_000,)


def test_falls_back_to_next_mirror_and_skips_verified_files(mnist_dir: Path, tmp_path: Path) -> None:
    dead = (tmp_path / "dead").as_uri()
    root = download_idx("mnist", tmp_path / "c", base_urls=[dead, mnist_dir.as_uri() + "/"], files=T10K_FILES)
    stamp = [(root / name).stat().st_mtime_ns for name in T10K_FILES]
    # Already present and verified: no mirror is needed.
    download_idx("mnist", root, base_urls=[dead], files=T10K_FILES)
    assert [(root / name).stat().st_mtime_ns for name in T10K_FILES] == stamp


def test_replaces_a_corrupt_local_file(mnist_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / T10K_FILES[1]
    target.write_bytes(b"stale")
    download_idx("mnist", tmp_path, base_urls=[mnist_dir.as_uri()], files=T10K_FILES[1:])
    assert _md5(target) == CHECKSUMS["mnist"][T10K_FILES[1]]


def test_checksum_mismatch_raises_and_leaves_nothing(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / T10K_FILES[1]).write_bytes(b"\x1f\x8b corrupted copy")
    root = tmp_path / "root"
    mirrors = [mirror.as_uri(), (tmp_path / "dead").as_uri()]
    with pytest.raises(DataError) as info:
        download_idx("fashion_mnist", root, base_urls=mirrors, files=T10K_FILES[1:])
    message = str(info.value)
    assert T10K_FILES[1] in message and mirror.as_uri() in message and "dead" in message
    assert list(root.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"name": "cifar10"}, "dataset.name"), ({"name": "mnist", "files": ["t10k-images"]}, "download.files")],
)
def test_config_errors(tmp_path: Path, kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}="):
        download_idx(root=tmp_path, **kwargs)


def _oversized_mirror(tmp_path: Path, size: int) -> Path:
    mirror = tmp_path / "big"
    mirror.mkdir()
    (mirror / T10K_FILES[1]).write_bytes(b"\x1f\x8b" + b"x" * (size - 2))
    return mirror


def test_a_file_over_the_size_cap_is_refused_before_it_is_written(tmp_path: Path) -> None:
    # file:// responses declare their Content-Length: refused before a byte is copied.
    mirror = _oversized_mirror(tmp_path, 5000)
    with pytest.raises(DataError) as info:
        download_idx("mnist", tmp_path / "root", base_urls=[mirror.as_uri()], files=T10K_FILES[1:], max_bytes=4096)
    message = str(info.value)
    assert "\n" not in message and "at least 5000 bytes" in message and "max_bytes=4096" in message
    assert list((tmp_path / "root").iterdir()) == []


def test_a_response_that_declares_no_size_is_cut_at_the_cap(tmp_path: Path, monkeypatch) -> None:
    import io
    import urllib.request

    from fedsim.data import _download

    class Undeclared(io.BytesIO):  # a server that sends no Content-Length
        headers: dict = {}

    def urlopen(url, timeout):
        return Undeclared(b"y" * 10_000)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    dest = tmp_path / "out.gz"
    with pytest.raises(DataError, match="max_bytes=3000"):
        with open(tmp_path / "sink", "wb") as sink:
            _download._copy_capped(urlopen("u", 1), sink, "u", 3000)
    assert (tmp_path / "sink").stat().st_size <= 3000  # nothing beyond the cap reached the disk
    with pytest.raises(DataError, match="max_bytes=3000"):
        _download._fetch("http://example.invalid/x.gz", dest, "0" * 32, max_bytes=3000)
    assert not dest.exists() and list(tmp_path.iterdir()) == [tmp_path / "sink"]  # no temp file either


def test_the_cap_admits_a_file_of_exactly_its_size(mnist_dir: Path, tmp_path: Path) -> None:
    size = (mnist_dir / T10K_FILES[1]).stat().st_size
    download_idx("mnist", tmp_path, base_urls=[mnist_dir.as_uri()], files=T10K_FILES[1:], max_bytes=size)
    assert _md5(tmp_path / T10K_FILES[1]) == CHECKSUMS["mnist"][T10K_FILES[1]]
    with pytest.raises(ConfigError, match="download.max_bytes=0"):
        download_idx("mnist", tmp_path, base_urls=[mnist_dir.as_uri()], files=T10K_FILES[1:], max_bytes=0)
