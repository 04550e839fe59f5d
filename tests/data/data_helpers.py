"""Helpers for the data tests: where the real MNIST files live and an independent IDX writer.

A plain module with a distinctive name rather than imports from conftest, which several test
directories may each define.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

# /work/shared/data/mnist next to the repository: only the t10k pair, gzip-compressed.
MNIST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
T10K_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of ``array``, written independently of the reader under test."""
    header = bytes([0, 0, _TYPE_CODES[array.dtype], array.ndim])
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    return header + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# ---- CIFAR-10 python batches and LEAF JSON trees (tests/data/test_data_cifar_leaf.py) ----------

# Where the real datasets are looked for when no FEDSIM_<NAME>_DIR is set: /work/shared/data/<name>.
SHARED_DATA = MNIST_DIR.parent
CIFAR_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


def _u(text: bytes) -> bytes:
    """SHORT_BINSTRING or BINSTRING: a Python 2 ``str``, as the official CIFAR pickles hold."""
    if len(text) < 256:
        return b"U" + bytes([len(text)]) + text
    return b"T" + len(text).to_bytes(4, "little") + text


def _int(value: int) -> bytes:
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if 0 <= value < 65536:
        return b"M" + value.to_bytes(2, "little")
    return b"J" + value.to_bytes(4, "little", signed=True)


def py2_cifar_pickle(data: np.ndarray, labels: list[int], batch_label: bytes = b"training batch 1 of 5") -> bytes:
    """A batch pickled the way Python 2's cPickle (protocol 2) and numpy 1.x wrote the official
    files: str keys and data, ``numpy.core.multiarray._reconstruct``, a dtype state, a BUILD."""
    assert data.dtype == np.uint8 and data.ndim == 2
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n" + _int(0) + b"\x85" + _u(b"b") + b"\x87R"  # _reconstruct(ndarray, (0,), 'b')
        + b"(" + _int(1) + _int(data.shape[0]) + _int(data.shape[1]) + b"\x86"  # state: version, shape
        + b"cnumpy\ndtype\n" + _u(b"u1") + _int(0) + _int(1) + b"\x87R"  # dtype('u1', 0, 1)
        + b"(" + _int(3) + _u(b"|") + b"NNN" + _int(-1) + _int(-1) + _int(0) + b"tb"  # dtype state
        + b"\x89" + _u(data.tobytes()) + b"tb"  # not fortran, raw bytes; BUILD
    )
    label_list = b"](" + b"".join(_int(v) for v in labels) + b"e"
    names = b"](" + b"".join(_u(f"img_{i}.png".encode()) for i in range(len(labels))) + b"e"
    return (
        b"\x80\x02}("
        + _u(b"data") + array
        + _u(b"labels") + label_list
        + _u(b"batch_label") + _u(batch_label)
        + _u(b"filenames") + names
        + b"u."
    )


def write_cifar_batches(
    root: Path, per_batch: int = 4, seed: int = 0
) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``root/cifar-10-batches-py`` with five train batches and a test batch of ``per_batch``
    random images each; returns (folder, train data, train labels, test data, test labels) with
    data as the raw uint8 (N, 3072) rows."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    parts = {}
    for name in CIFAR_BATCHES:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        (folder / name).write_bytes(py2_cifar_pickle(data, labels))
        parts[name] = (data, labels)
    train = [parts[n] for n in CIFAR_BATCHES[:5]]
    return (folder, np.concatenate([d for d, _ in train]), np.array([v for _, ls in train for v in ls]),
            parts["test_batch"][0], np.array(parts["test_batch"][1]))


def write_tar(path: Path, root: Path, names: list[str]) -> Path:
    """A gzip tarball at ``path`` of ``names`` (relative to ``root``, folders recursively)."""
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            tar.add(root / name, arcname=name)
    return path


def write_leaf_file(path: Path, user_data: dict[str, tuple[list, list]], extra: dict | None = None) -> Path:
    """One LEAF JSON file: users in the given order, their sample counts and x/y lists."""
    import json

    doc = {
        "users": list(user_data),
        "num_samples": [len(y) for _, y in user_data.values()],
        "user_data": {u: {"x": x, "y": y} for u, (x, y) in user_data.items()},
    }
    doc.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


# Three FEMNIST writers: (train, test) example counts each; names deliberately not in sorted order.
FEMNIST_WRITERS = {"f0200_45": (4, 2), "f0003_10": (3, 1), "f0117_31": (2, 2)}


def femnist_fixture(seed: int = 0) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """split -> writer -> (uint8 pixels (n, 28, 28), labels (n,)) for FEMNIST_WRITERS."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict] = {"train": {}, "test": {}}
    for writer, counts in FEMNIST_WRITERS.items():
        for split, n in zip(("train", "test"), counts):
            pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
            pixels[:, 0, 0] = 255  # the white background corner LEAF keeps as 1.0
            out[split][writer] = (pixels, rng.integers(0, 62, size=n))
    return out


def write_femnist_tree(root: Path, fixture: dict, under_data: bool = False) -> Path:
    """A LEAF FEMNIST tree of ``fixture``: each split in two files (writers split across them),
    x as LEAF writes it (grey level / 255 as float64 lists)."""
    base = root / "data" if under_data else root
    for split, writers in fixture.items():
        items = list(writers.items())
        for k, chunk in enumerate((items[:2], items[2:])):
            user_data = {w: ((p.reshape(len(p), -1) / 255).tolist(), y.tolist()) for w, (p, y) in chunk}
            write_leaf_file(base / split / f"all_data_{k}_niid_0_keep_0_{split}_9.json", user_data)
    return root


SHAKESPEARE_ROLES = {"THE_TEMPEST_PROSPERO": (3, 1), "HAMLET_HORATIO": (2, 2), "KING_LEAR_FOOL": (2, 1)}


def shakespeare_fixture(seed: int = 0) -> dict[str, dict[str, tuple[list[str], list[str]]]]:
    """split -> role -> (80-character strings, next characters) for SHAKESPEARE_ROLES."""
    letters = "\n !\"&'(),-.0123456789:;>?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]abcdefghijklmnopqrstuvwxyz}"
    rng = np.random.default_rng(seed)
    out: dict[str, dict] = {"train": {}, "test": {}}
    for role, counts in SHAKESPEARE_ROLES.items():
        for split, n in zip(("train", "test"), counts):
            text = "".join(letters[i] for i in rng.integers(0, len(letters), size=80 + n))
            out[split][role] = ([text[i:i + 80] for i in range(n)], [text[i + 80] for i in range(n)])
    return out


def write_shakespeare_tree(root: Path, fixture: dict) -> Path:
    for split, roles in fixture.items():
        write_leaf_file(root / split / f"all_data_niid_0_keep_0_{split}_9.json", dict(roles))
    return root
