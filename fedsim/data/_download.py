"""Checksummed download of the MNIST-family IDX files from public mirrors, and of one archive
(``download_file``) with a safe tar extraction (``extract_tar``) for datasets shipped as tarballs."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.request
import uuid
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from fedsim._atomic import atomic_path
from fedsim._checks import check_int
from fedsim.errors import ConfigError, DataError

# Published md5 of each gzip file; a download is kept only if it matches.
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

_TIMEOUT_S = 60.0
_CHUNK = 1 << 20
# The largest file a download may write (the biggest IDX gzip, MNIST's train images, is ~10 MB):
# a mirror that serves more is refused before it can fill the disk.
MAX_DOWNLOAD_BYTES = 64 << 20


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _too_large(url: str, size: int, max_bytes: int) -> DataError:
    return DataError(f"{url} serves at least {size} bytes, above the download cap of max_bytes={max_bytes}; refused")


def _copy_capped(response, out, url: str, max_bytes: int) -> None:
    """Copy ``response`` into ``out``, refusing (DataError) before writing beyond ``max_bytes``."""
    declared = response.headers.get("Content-Length") if getattr(response, "headers", None) else None
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(url, int(declared), max_bytes)
    written = 0
    # Read one byte past the cap at most: a server may send more than it declared.
    while chunk := response.read(min(_CHUNK, max_bytes - written + 1)):
        if written + len(chunk) > max_bytes:
            raise _too_large(url, written + len(chunk), max_bytes)
        out.write(chunk)
        written += len(chunk)


def _fetch(url: str, dest: Path, md5: str, max_bytes: int = MAX_DOWNLOAD_BYTES) -> None:
    """Download ``url`` to ``dest`` atomically, at most ``max_bytes``; raise on any failure.

    The bytes go to a temp file next to dest (``atomic_path``) and replace dest only after the
    checksum passes, so a failed or corrupt download never leaves a file that a later load
    would trust.
    """
    with atomic_path(dest) as tmp:
        with tmp.open("xb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            _copy_capped(response, out, url, max_bytes)
        got = _md5(tmp)
        if got != md5:
            raise ValueError(f"md5 {got} != expected {md5}")


def _mirror_url(base: str, file_name: str) -> str:
    # Mirrors are given with or without a trailing slash.
    return base.rstrip("/") + "/" + file_name


def download_idx(
    name: str,
    root: str | os.PathLike[str],
    base_urls: Sequence[str] | None = None,
    files: Iterable[str] | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Path:
    """Download the gzip IDX files of ``name`` into ``root`` and return ``root``.

    ``files`` limits the download to some of the four file names (e.g. only the t10k pair).
    Files already present with the right md5 are kept; each other file is tried on every mirror
    in turn, and DataError names the file and the mirrors if none serves a verified copy. A file
    larger than ``max_bytes`` is refused (DataError) before more than that is written.
    """
    if name not in CHECKSUMS:
        raise ConfigError("dataset.name", name, "one of " + ", ".join(CHECKSUMS))
    check_int("download.max_bytes", max_bytes, 1)
    checksums = CHECKSUMS[name]
    # A lone string is one name or URL, not a sequence of characters.
    if isinstance(files, str):
        files = [files]
    if isinstance(base_urls, str):
        base_urls = [base_urls]
    wanted = list(checksums) if files is None else list(files)
    for file_name in wanted:
        if file_name not in checksums:
            raise ConfigError("download.files", file_name, "names among " + ", ".join(checksums))
    mirrors = tuple(base_urls) if base_urls is not None else MIRRORS[name]
    if not mirrors:
        raise ConfigError("download.base_urls", list(mirrors), "at least one mirror URL")
    root_path = Path(root).expanduser()
    root_path.mkdir(parents=True, exist_ok=True)
    for file_name in wanted:
        dest = root_path / file_name
        md5 = checksums[file_name]
        if dest.is_file() and _md5(dest) == md5:
            continue
        failures = []
        for base in mirrors:
            url = _mirror_url(base, file_name)
            try:
                _fetch(url, dest, md5, max_bytes)
                break
            except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
                failures.append(f"{url}: {exc}")
        else:
            raise DataError(
                f"could not download a verified {file_name} from {', '.join(mirrors)} ({'; '.join(failures)})"
            )
    return root_path


# The most an archive may unpack to (CIFAR-10's python tarball unpacks to ~180 MB).
MAX_EXTRACT_BYTES = 1 << 30


def download_file(url: str, dest: str | os.PathLike[str], md5: str, max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """``dest`` holding a verified copy of ``url``: kept as it is if its md5 already matches, else
    fetched (atomically, at most ``max_bytes``). Any failure raises one DataError line naming the
    file and the URL, and leaves no partial or unverified file at ``dest``."""
    check_int("download.max_bytes", max_bytes, 1)
    dest = Path(dest)
    if dest.is_file() and _md5(dest) == md5:
        return dest
    try:
        _fetch(url, dest, md5, max_bytes)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"could not download a verified {dest.name} from {url} ({reason})") from None
    return dest


def _unsafe_member(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` may not be extracted, or None for a plain file or folder inside the root."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or "\\" in member.name or not name.parts:
        return f"member {member.name!r} points outside the extraction folder"
    if not (member.isreg() or member.isdir()):
        return f"member {member.name!r} is a link or special file"
    return None


def extract_tar(
    archive: str | os.PathLike[str], dest_dir: str | os.PathLike[str], max_bytes: int = MAX_EXTRACT_BYTES
) -> Path:
    """Extract the tar (optionally gzip, bz2 or xz) ``archive`` into ``dest_dir``; return ``dest_dir``.

    Only regular files and folders below ``dest_dir`` are allowed: an absolute path, a ``..``
    part, a link or a device, or more than ``max_bytes`` in all, refuses the whole archive
    (DataError naming it) before anything is written. Members are unpacked into a hidden temp
    folder first and then moved into place (replacing files of the same name), so a corrupt
    archive leaves ``dest_dir`` as it was.
    """
    check_int("extract.max_bytes", max_bytes, 1)
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir / f".{archive.name}.{uuid.uuid4().hex}.extract"
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    if (why := _unsafe_member(member)) is not None:
                        raise DataError(f"{archive}: {why}; refused")
                total = sum(m.size for m in members if m.isreg())
                if total > max_bytes:
                    raise DataError(f"{archive}: unpacks to {total} bytes, above max_bytes={max_bytes}; refused")
                # The "data" filter (Python >= 3.11.4) repeats the checks above inside tarfile.
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=members, **extra)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise DataError(f"{archive}: not a readable tar archive ({reason})") from None
        try:
            # Sorted, so a folder comes before what it holds.
            for path in sorted(tmp.rglob("*")):
                target = dest_dir / path.relative_to(tmp)
                if path.is_dir():
                    target.mkdir(exist_ok=True)
                else:
                    os.replace(path, target)
        except OSError as exc:
            raise DataError(f"{archive}: could not place its files in {dest_dir} ({exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest_dir
