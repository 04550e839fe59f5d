"""CIFAR-10 python batches (safe unpickling, checksummed download) and LEAF FEMNIST/Shakespeare.

Every fixture is built in tmp_path in the real formats (Python 2 protocol-2 pickles, a gzip
tarball, LEAF JSON trees); the real datasets are loaded only where a directory is given.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from data_helpers import (
    CIFAR_BATCHES,
    FEMNIST_WRITERS,
    SHAKESPEARE_ROLES,
    SHARED_DATA,
    femnist_fixture,
    py2_cifar_pickle,
    shakespeare_fixture,
    write_cifar_batches,
    write_femnist_tree,
    write_leaf_file,
    write_shakespeare_tree,
    write_tar,
)
from PIL import Image

from fedsim.data import _cifar10
from fedsim.data._cifar10 import load_cifar10_split, read_cifar10_batch
from fedsim.data._download import extract_tar
from fedsim.data._leaf import (
    ALL_LETTERS,
    UNKNOWN_LETTER_ID,
    client_order,
    femnist_from_columns,
    load_femnist_split,
    load_shakespeare_split,
    shakespeare_from_columns,
    split_by_client,
)
from fedsim.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only file:// URLs may be opened: a test that reached for the network fails instead."""
    real = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        assert str(getattr(url, "full_url", url)).startswith("file:"), f"network access to {url}"
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


def _one_line_naming(error: pytest.ExceptionInfo, fragment: str) -> str:
    message = str(error.value)
    assert "\n" not in message and fragment in message, message
    return message


def _pixels(data: np.ndarray) -> np.ndarray:
    return (data.astype(np.float32) / np.float32(255)).reshape(-1, 3, 32, 32)


# ---- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar10_reads_official_layout_from_parent_or_batch_folder(tmp_path: Path) -> None:
    folder, train_x, train_y, test_x, test_y = write_cifar_batches(tmp_path, per_batch=4)
    for directory in (tmp_path, folder):
        split = load_cifar10_split(directory, download=False)
        assert split.train.x.shape == (20, 3, 32, 32) and split.test.x.shape == (4, 3, 32, 32)
        assert split.train.x.dtype == np.float32 and split.train.y.dtype == np.int64
        assert split.train.num_classes == 10 and split.train.name == "cifar10"
        np.testing.assert_array_equal(split.train.x, _pixels(train_x))
        np.testing.assert_array_equal(split.train.y, train_y)
        np.testing.assert_array_equal(split.test.x, _pixels(test_x))
        np.testing.assert_array_equal(split.test.y, test_y)
        assert 0.0 <= split.train.x.min() and split.train.x.max() <= 1.0
        assert split.train.client_ids is None


def test_cifar10_channel_planes_are_rgb_row_major(tmp_path: Path) -> None:
    data = np.zeros((1, 3072), dtype=np.uint8)
    data[0, 0] = 255  # red plane, row 0, column 0
    data[0, 1024 + 33] = 51  # green plane, row 1, column 1
    data[0, 2048 + 1023] = 102  # blue plane, last pixel
    path = tmp_path / "b"
    path.write_bytes(py2_cifar_pickle(data, [3]))
    x, y = read_cifar10_batch(path)
    assert x[0, 0, 0, 0] == 1.0 and x[0, 1, 1, 1] == np.float32(0.2) and x[0, 2, 31, 31] == np.float32(0.4)
    assert x.sum() == np.float32(1.6) and y.tolist() == [3]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_batch_pickled_by_python3_numpy_is_read(tmp_path: Path, protocol: int) -> None:
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({"data": data, "labels": np.array([9, 0])}, protocol=protocol))
    x, y = read_cifar10_batch(path)
    np.testing.assert_array_equal(x, _pixels(data))
    assert y.tolist() == [9, 0] and y.dtype == np.int64


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _bad_batches(tmp_path: Path) -> dict[str, bytes]:
    good = np.zeros((2, 3072), dtype=np.uint8)
    return {
        "code": pickle.dumps({b"data": _RunsCode(tmp_path / "pwned"), b"labels": [0, 1]}, protocol=2),
        "object-array": pickle.dumps({b"data": np.array([1, "a"], dtype=object), b"labels": [0]}),
        "structured-array": pickle.dumps({b"data": np.zeros(2, dtype=[("a", "u1")]), b"labels": [0, 1]}),
        "truncated": py2_cifar_pickle(good, [0, 1])[:-40],
        "garbage": b"\x80\x02not a pickle at all",
        "empty": b"",
        "not-a-dict": pickle.dumps([good, [0, 1]]),
        "no-labels": pickle.dumps({b"data": good}),
        "no-data": pickle.dumps({b"labels": [0, 1]}),
        "wrong-width": pickle.dumps({b"data": np.zeros((2, 3071), dtype=np.uint8), b"labels": [0, 1]}),
        "float-data": pickle.dumps({b"data": good.astype(np.float32), b"labels": [0, 1]}),
        "label-10": py2_cifar_pickle(good, [0, 10]),
        "label-count": py2_cifar_pickle(good, [0]),
        "label-str": pickle.dumps({b"data": good, b"labels": ["a", "b"]}),
        "numpy-scalar": pickle.dumps({b"data": good, b"labels": [np.int64(1), np.int64(2)]}),
        # BUILD on an allowed global would set attributes on it for every later load; NEWOBJ on it
        "build-on-dtype": b"\x80\x02cnumpy\ndtype\nN}U\x05dtypeK\x01s\x86b.",
        "build-on-function": b"\x80\x02c_codecs\nencode\nN}U\x0c__defaults__(U\x06latin1ts\x86b.",
        "build-on-ndarray": b"\x80\x02cnumpy\nndarray\n}U\x01aK\x01sb.",
        "newobj-dtype": b"\x80\x02cnumpy\ndtype\n)\x81.",
        "bare-global": b"\x80\x02cnumpy\ndtype\n.",
        "array-without-data": b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R.",
        "array-size-mismatch": py2_cifar_pickle(good, [0, 1]).replace(b"K\x02M\x00\x0c\x86", b"K\x03M\x00\x0c\x86", 1),
    }


@pytest.mark.parametrize("case", list(_bad_batches(Path("."))))
def test_cifar10_bad_or_hostile_batch_is_one_data_error(tmp_path: Path, case: str) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(_bad_batches(tmp_path)[case])
    with pytest.raises(DataError) as info:
        read_cifar10_batch(path)
    _one_line_naming(info, str(path))
    assert not (tmp_path / "pwned").exists()


def test_cifar10_hostile_global_is_named(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(_bad_batches(tmp_path)["code"])
    with pytest.raises(DataError, match=r"refusing to load (posix|nt|os)\.system"):
        read_cifar10_batch(path)


def test_cifar10_missing_files(tmp_path: Path) -> None:
    folder, *_ = write_cifar_batches(tmp_path, per_batch=1)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError) as info:
        load_cifar10_split(tmp_path, download=False)
    _one_line_naming(info, "data_batch_3")
    with pytest.raises(DataError) as info:
        load_cifar10_split(tmp_path / "nowhere", download=False)
    _one_line_naming(info, "nowhere")
    with pytest.raises(ConfigError) as info:
        load_cifar10_split(None, download=False)
    assert info.value.key == "dataset.path"


def _cifar_tarball(tmp_path: Path) -> tuple[Path, str, tuple]:
    src = tmp_path / "src"
    arrays = write_cifar_batches(src, per_batch=2, seed=3)
    (src / "cifar-10-batches-py" / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"]}))
    tarball = write_tar(tmp_path / "cifar-10-python.tar.gz", src, ["cifar-10-batches-py"])
    return tarball, hashlib.md5(tarball.read_bytes()).hexdigest(), arrays


def test_cifar10_download_verifies_unpacks_and_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tarball, md5, (_, train_x, train_y, test_x, test_y) = _cifar_tarball(tmp_path)
    monkeypatch.setattr(_cifar10, "CIFAR10_URL", tarball.as_uri())
    monkeypatch.setattr(_cifar10, "CIFAR10_MD5", md5)
    cache = tmp_path / "cache"
    split = load_cifar10_split(cache, download=True)
    np.testing.assert_array_equal(split.train.x, _pixels(train_x))
    np.testing.assert_array_equal(split.test.y, test_y)
    assert sorted(p.name for p in cache.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    assert sorted(p.name for p in (cache / "cifar-10-batches-py").iterdir()) == sorted([*CIFAR_BATCHES, "batches.meta"])
    # Present now: loading again needs no download, even from a dead URL.
    monkeypatch.setattr(_cifar10, "CIFAR10_URL", (tmp_path / "dead.tar.gz").as_uri())
    again = load_cifar10_split(cache, download=True)
    np.testing.assert_array_equal(again.train.y, train_y)


def test_cifar10_download_defaults_to_the_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tarball, md5, (_, _, train_y, _, _) = _cifar_tarball(tmp_path)
    monkeypatch.setattr(_cifar10, "CIFAR10_URL", tarball.as_uri())
    monkeypatch.setattr(_cifar10, "CIFAR10_MD5", md5)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    split = load_cifar10_split(None, download=True)
    np.testing.assert_array_equal(split.train.y, train_y)
    assert (tmp_path / "home" / ".cache" / "fedsim" / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file()


def test_cifar10_download_with_wrong_checksum_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tarball, _, _ = _cifar_tarball(tmp_path)
    monkeypatch.setattr(_cifar10, "CIFAR10_URL", tarball.as_uri())  # the real md5 stays: it cannot match
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as info:
        load_cifar10_split(cache, download=True)
    message = _one_line_naming(info, "cifar-10-python.tar.gz")
    assert tarball.as_uri() in message and "md5" in message
    assert list(cache.iterdir()) == []


def test_cifar10_download_of_a_dead_url_is_one_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cifar10, "CIFAR10_URL", (tmp_path / "missing.tar.gz").as_uri())
    with pytest.raises(DataError) as info:
        load_cifar10_split(tmp_path / "cache", download=True)
    _one_line_naming(info, "missing.tar.gz")


def _tar_with(path: Path, member: tarfile.TarInfo, payload: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(payload) if member.isreg() else 0
        tar.addfile(member, io.BytesIO(payload) if member.isreg() else None)
    return path


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../escaped.txt"),
        tarfile.TarInfo("/tmp/absolute-fedsim-test.txt"),
        tarfile.TarInfo("cifar-10-batches-py/../../escaped.txt"),
    ],
    ids=["dotdot", "absolute", "nested-dotdot"],
)
def test_extract_refuses_paths_outside_the_folder(tmp_path: Path, member: tarfile.TarInfo) -> None:
    archive = _tar_with(tmp_path / "evil.tar.gz", member)
    dest = tmp_path / "a" / "b"
    with pytest.raises(DataError) as info:
        extract_tar(archive, dest)
    _one_line_naming(info, "evil.tar.gz")
    assert not (tmp_path / "a" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/absolute-fedsim-test.txt").exists()
    assert list(dest.iterdir()) == []


def test_extract_refuses_links_and_oversized_archives(tmp_path: Path) -> None:
    link = tarfile.TarInfo("cifar-10-batches-py/test_batch")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(DataError, match="link or special file"):
        extract_tar(_tar_with(tmp_path / "link.tar.gz", link), tmp_path / "out")
    big = _tar_with(tmp_path / "big.tar.gz", tarfile.TarInfo("f"), b"y" * 100)
    with pytest.raises(DataError, match="above max_bytes=99"):
        extract_tar(big, tmp_path / "out", max_bytes=99)
    assert list((tmp_path / "out").iterdir()) == []
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b\x08 not gzip")
    with pytest.raises(DataError, match="not a readable tar archive"):
        extract_tar(tmp_path / "junk.tar.gz", tmp_path / "out")


def test_download_path_refuses_a_traversing_tarball(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _tar_with(tmp_path / "evil.tar.gz", tarfile.TarInfo("../escaped.txt"))
    monkeypatch.setattr(_cifar10, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(_cifar10, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    with pytest.raises(DataError, match="points outside"):
        load_cifar10_split(tmp_path / "cache", download=True)
    assert not (tmp_path / "escaped.txt").exists()


# ---- LEAF FEMNIST -----------------------------------------------------------------------------


def _femnist_expected(fixture: dict, split: str, order: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [(fixture[split][w], i) for i, w in enumerate(order) if w in fixture[split]]
    x = np.concatenate([(p.astype(np.float64) / 255).astype(np.float32) for (p, _), _ in rows])[:, None]
    y = np.concatenate([ys for (_, ys), _ in rows])
    ids = np.concatenate([np.full(len(ys), i) for (_, ys), i in rows])
    return x, y, ids


@pytest.mark.parametrize("under_data", [False, True])
def test_femnist_reads_leaf_tree(tmp_path: Path, under_data: bool) -> None:
    fixture = femnist_fixture()
    split = load_femnist_split(write_femnist_tree(tmp_path, fixture, under_data=under_data))
    order = sorted(FEMNIST_WRITERS)
    for part, name in ((split.train, "train"), (split.test, "test")):
        x, y, ids = _femnist_expected(fixture, name, order)
        n = sum(train_test[name == "test"] for train_test in FEMNIST_WRITERS.values())
        assert part.x.dtype == np.float32 and part.x.shape == (n, 1, 28, 28)
        np.testing.assert_array_equal(part.x, x)
        np.testing.assert_array_equal(part.y, y)
        np.testing.assert_array_equal(part.client_ids, ids)
        assert part.client_ids.dtype == np.int64 and part.num_classes == 62 and part.name == "femnist"
    assert split.train.x[:, 0, 0, 0].tolist() == [1.0] * len(split.train)  # white background stays 1
    assert sorted(set(split.train.client_ids.tolist())) == [0, 1, 2]


def test_femnist_max_clients_keeps_the_first_writers_by_name(tmp_path: Path) -> None:
    split = load_femnist_split(write_femnist_tree(tmp_path, femnist_fixture()), max_clients=2)
    # Sorted: f0003_10 (3 train, 1 test), f0117_31 (2, 2); f0200_45 is dropped.
    assert split.train.client_ids.tolist() == [0, 0, 0, 1, 1]
    assert split.test.client_ids.tolist() == [0, 1, 1]
    for bad in (0, -1, "2", 1.5, True):
        with pytest.raises(ConfigError) as info:
            load_femnist_split(tmp_path, max_clients=bad)
        assert info.value.key == "dataset.max_clients"


def test_femnist_by_user_split_numbers_test_only_writers_after_train(tmp_path: Path) -> None:
    fixture = femnist_fixture()
    train = {w: v for w, v in fixture["train"].items() if w != "f0003_10"}
    test = {"f0003_10": fixture["test"]["f0003_10"], "f0117_31": fixture["test"]["f0117_31"]}
    write_femnist_tree(tmp_path, {"train": train, "test": test})
    split = load_femnist_split(tmp_path)
    # Train writers f0117_31 -> 0, f0200_45 -> 1; the test-only writer f0003_10 -> 2.
    assert split.train.client_ids.tolist() == [0, 0, 1, 1, 1, 1]
    assert split.test.client_ids.tolist() == [0, 0, 2]
    np.testing.assert_array_equal(split.test.y[2:], fixture["test"]["f0003_10"][1])


def test_femnist_tolerates_dropped_users_and_ignores_other_files(tmp_path: Path) -> None:
    fixture = femnist_fixture()
    write_femnist_tree(tmp_path, fixture)
    # LEAF's by-sample split leaves users it dropped in user_data; they are not clients.
    path = write_leaf_file(tmp_path / "train" / "z_extra.json", {"f9999_00": ([], [])})
    doc = json.loads(path.read_text())
    doc["user_data"]["dropped"] = {"x": [], "y": []}
    doc["users"], doc["num_samples"] = [], []
    path.write_text(json.dumps(doc))
    (tmp_path / "train" / "notes.txt").write_text("not json")
    split = load_femnist_split(tmp_path)
    assert sorted(set(split.train.client_ids.tolist())) == [0, 1, 2]


def _round_robin(groups: list[list]) -> list:
    """Items of all groups interleaved, each group's items kept in their order."""
    return [g[i] for i in range(max(map(len, groups))) for g in groups if i < len(g)]


def test_femnist_columns_route_matches_the_json_route(tmp_path: Path) -> None:
    """The hub's columns (PIL images, character, writer_id) give the JSON reader's arrays."""
    fixture = femnist_fixture()
    from_json = load_femnist_split(write_femnist_tree(tmp_path, fixture))
    order = client_order(fixture["train"], fixture["test"])
    for part, name in ((from_json.train, "train"), (from_json.test, "test")):
        per_writer = [[(Image.fromarray(p), int(c), w) for p, c in zip(ps, cs)] for w, (ps, cs) in fixture[name].items()]
        images, labels, writers = zip(*_round_robin(per_writer))  # writers interleaved, as hub rows may be
        got = femnist_from_columns(list(images), np.array(labels), list(writers), writers=order)
        for attr in ("x", "y", "client_ids"):
            np.testing.assert_array_equal(getattr(got, attr), getattr(part, attr))
            assert getattr(got, attr).dtype == getattr(part, attr).dtype
        # uint8 arrays in the hub's three shapes and RGB images give the same pixels too
        pixels = np.stack([np.asarray(im) for im in images])
        for variant in (pixels, pixels.reshape(len(pixels), -1), pixels[:, None], [im.convert("RGB") for im in images]):
            np.testing.assert_array_equal(femnist_from_columns(variant, labels, writers, writers=order).x, part.x)


def test_femnist_columns_default_order_and_errors() -> None:
    pixels = np.zeros((3, 28, 28), dtype=np.uint8)
    ds = femnist_from_columns(pixels, [1, 2, 3], ["b", "a", "b"])
    assert ds.client_ids.tolist() == [0, 1, 1] and ds.y.tolist() == [2, 1, 3]
    with pytest.raises(DataError, match="62"):
        femnist_from_columns(pixels, [1, 2, 62], ["a", "a", "a"])
    with pytest.raises(DataError, match="differ in length"):
        femnist_from_columns(pixels, [1, 2], ["a", "a", "a"])
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        femnist_from_columns(pixels.astype(np.int64) + 255, [1, 2, 3], ["a"] * 3)
    with pytest.raises(DataError, match="784"):
        femnist_from_columns(np.zeros((3, 27, 27), np.uint8), [1, 2, 3], ["a"] * 3)


# ---- LEAF Shakespeare -------------------------------------------------------------------------


def _ids(text: str) -> list[int]:
    return [ALL_LETTERS.find(c) if c in ALL_LETTERS else UNKNOWN_LETTER_ID for c in text]


def test_shakespeare_reads_leaf_tree(tmp_path: Path) -> None:
    fixture = shakespeare_fixture()
    split = load_shakespeare_split(write_shakespeare_tree(tmp_path, fixture))
    order = sorted(SHAKESPEARE_ROLES)
    for part, name in ((split.train, "train"), (split.test, "test")):
        xs = [x for role in order for x in fixture[name][role][0]]
        ys = [y for role in order for y in fixture[name][role][1]]
        ids = [i for i, role in enumerate(order) for _ in fixture[name][role][1]]
        assert part.x.dtype == np.int64 and part.x.shape == (len(xs), 80)
        assert part.x.tolist() == [_ids(x) for x in xs]
        assert part.y.tolist() == [_ids(y)[0] for y in ys]
        assert part.client_ids.tolist() == ids
        assert part.vocab_size == part.num_classes == 80 and part.is_tokens and part.name == "shakespeare"
    assert load_shakespeare_split(tmp_path, max_clients=1).train.client_ids.tolist() == [0, 0]


def test_shakespeare_vocabulary_is_leafs() -> None:
    assert len(ALL_LETTERS) == 80 and len(set(ALL_LETTERS)) == 80 and UNKNOWN_LETTER_ID == 79
    text = ("To be, or not to be: that is the question}\n" + "x" * 80)[:80]
    ds = shakespeare_from_columns([text, "é" * 79 + "\t"], ["}", "~"], ["r", "r"])
    assert ds.x[0].tolist() == [ALL_LETTERS.index(c) for c in text]
    assert ds.x[1].tolist() == [79] * 80  # unknown letters map as LEAF's find(...) = -1 does: the last id
    assert ds.y.tolist() == [79, 79] and ALL_LETTERS[79] == "}"
    assert ds.x[0, 0] == ALL_LETTERS.index("T") and ALL_LETTERS[0] == "\n" and ALL_LETTERS[1] == " "


def test_shakespeare_columns_route_matches_the_json_route(tmp_path: Path) -> None:
    fixture = shakespeare_fixture()
    from_json = load_shakespeare_split(write_shakespeare_tree(tmp_path, fixture))
    order = client_order(fixture["train"], fixture["test"])
    for part, name in ((from_json.train, "train"), (from_json.test, "test")):
        per_role = [[(x, y, role) for x, y in zip(xs, ys)] for role, (xs, ys) in fixture[name].items()]
        xs, ys, roles = zip(*_round_robin(per_role))
        got = shakespeare_from_columns(np.array(xs), list(ys), list(roles), roles=order)
        for attr in ("x", "y", "client_ids"):
            np.testing.assert_array_equal(getattr(got, attr), getattr(part, attr))
    with pytest.raises(DataError, match="80 character"):
        shakespeare_from_columns(["a" * 79], ["b"], ["r"])


def test_split_by_client_splits_each_client_like_leaf() -> None:
    ds = femnist_from_columns(np.zeros((13, 784), np.uint8), np.arange(13) % 62, ["a"] * 10 + ["b"] * 2 + ["c"])
    split = split_by_client(ds, test_fraction=0.1, seed=4)
    assert np.bincount(split.train.client_ids).tolist() == [9, 1, 1]
    assert np.bincount(split.test.client_ids).tolist() == [1, 1]
    assert sorted(split.train.y.tolist() + split.test.y.tolist()) == list(range(13))
    again = split_by_client(ds, test_fraction=0.1, seed=4)
    assert again.test.y.tolist() == split.test.y.tolist()
    with pytest.raises(ConfigError):
        split_by_client(ds, test_fraction=1.0, seed=0)


# ---- LEAF errors: one DataError line naming the file ----------------------------------------


def _doc(fixture_user: str = "u1") -> dict:
    return {"users": [fixture_user], "num_samples": [1], "user_data": {fixture_user: {"x": [[0.5] * 784], "y": [3]}}}


def _set(path: tuple, value):
    def edit(doc: dict) -> dict:
        node = doc
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return doc
    return edit


_DELETE = object()
_BAD_FEMNIST = {
    "missing-users": _set(("users",), _DELETE),
    "missing-num-samples": _set(("num_samples",), _DELETE),
    "missing-user-data": _set(("user_data",), _DELETE),
    "users-not-strings": _set(("users",), [1]),
    "users-twice": lambda d: {**d, "users": ["u1", "u1"], "num_samples": [1, 1]},
    "num-samples-length": _set(("num_samples",), [1, 1]),
    "num-samples-count": _set(("num_samples",), [2]),
    "user-not-in-user-data": _set(("user_data",), {}),
    "user-without-x": _set(("user_data", "u1", "x"), _DELETE),
    "x-y-lengths": _set(("user_data", "u1", "y"), [3, 4]),
    "x-width": _set(("user_data", "u1", "x"), [[0.5] * 783]),
    "x-ragged": lambda d: {**d, "num_samples": [2], "user_data": {"u1": {"x": [[0.5] * 784, [0.5] * 700], "y": [1, 2]}}},
    "x-strings": _set(("user_data", "u1", "x"), [["0.5"] * 784]),
    "x-above-one": _set(("user_data", "u1", "x"), [[255] * 784]),
    "x-nan": _set(("user_data", "u1", "x"), [[float("nan")] * 784]),
    "label-62": _set(("user_data", "u1", "y"), [62]),
    "label-negative": _set(("user_data", "u1", "y"), [-1]),
    "label-float": _set(("user_data", "u1", "y"), [3.0]),
    "not-an-object": lambda d: [d],
}


def _write_tree(root: Path, train_doc, test_doc=None) -> Path:
    for split, doc in (("train", train_doc), ("test", test_doc if test_doc is not None else _doc())):
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / f"{split}.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return root


@pytest.mark.parametrize("case", list(_BAD_FEMNIST))
def test_femnist_bad_file_is_one_data_error_naming_it(tmp_path: Path, case: str) -> None:
    _write_tree(tmp_path, _BAD_FEMNIST[case](_doc()))
    with pytest.raises(DataError) as info:
        load_femnist_split(tmp_path)
    _one_line_naming(info, str(tmp_path / "train" / "train.json"))


def test_leaf_tree_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_femnist_split(tmp_path / "nowhere")
    _one_line_naming(info, "nowhere")
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError) as info:
        load_femnist_split(tmp_path)
    _one_line_naming(info, "train/ and test/")
    (tmp_path / "test").mkdir()
    with pytest.raises(DataError) as info:
        load_shakespeare_split(tmp_path)
    _one_line_naming(info, "no LEAF .json files")
    _write_tree(tmp_path, "{not json")
    with pytest.raises(DataError) as info:
        load_femnist_split(tmp_path)
    _one_line_naming(info, str(tmp_path / "train" / "train.json"))
    _write_tree(tmp_path, _doc(), {"users": [], "num_samples": [], "user_data": {}})
    with pytest.raises(DataError) as info:
        load_femnist_split(tmp_path)
    _one_line_naming(info, "no examples")


def _shakespeare_doc(x, y) -> dict:
    return {"users": ["r"], "num_samples": [len(y)], "user_data": {"r": {"x": x, "y": y}}}


@pytest.mark.parametrize(
    ("x", "y", "fragment"),
    [
        (["a" * 79], ["b"], "x[0] must be a string of 80"),
        (["a" * 81], ["b"], "x[0] must be a string of 80"),
        ([list("a" * 80)], ["b"], "x[0] must be a string of 80"),
        (["a" * 80], ["bc"], "y[0] must be a string of 1"),
        (["a" * 80], [5], "y[0] must be a string of 1"),
    ],
)
def test_shakespeare_bad_file_is_one_data_error_naming_it(tmp_path: Path, x, y, fragment: str) -> None:
    ok = _shakespeare_doc(["a" * 80], ["b"])
    _write_tree(tmp_path, _shakespeare_doc(x, y), ok)
    with pytest.raises(DataError) as info:
        load_shakespeare_split(tmp_path)
    message = _one_line_naming(info, str(tmp_path / "train" / "train.json"))
    assert fragment in message


# ---- the real datasets, where a directory is given ----------------------------------------------


def _real_dir(name: str, env: str) -> Path:
    given = os.environ.get(env)
    directory = Path(given) if given else SHARED_DATA / name
    if not directory.is_dir():
        pytest.skip(f"real {name} not available: set {env} or put it in {SHARED_DATA / name}")
    return directory


def test_real_cifar10_if_present() -> None:
    split = load_cifar10_split(_real_dir("cifar10", "FEDSIM_CIFAR10_DIR"), download=False)
    assert split.train.x.shape == (50_000, 3, 32, 32) and split.test.x.shape == (10_000, 3, 32, 32)
    assert np.bincount(split.train.y).tolist() == [5000] * 10 and np.bincount(split.test.y).tolist() == [1000] * 10


def test_real_femnist_if_present() -> None:
    split = load_femnist_split(_real_dir("femnist", "FEDSIM_FEMNIST_DIR"), max_clients=5)
    assert split.train.input_shape == (1, 28, 28) and split.train.num_classes == 62
    assert sorted(set(split.train.client_ids.tolist())) == [0, 1, 2, 3, 4]
    assert 0.0 <= split.train.x.min() and split.train.x.max() <= 1.0 and len(split.test) > 0


def test_real_shakespeare_if_present() -> None:
    split = load_shakespeare_split(_real_dir("shakespeare", "FEDSIM_SHAKESPEARE_DIR"), max_clients=5)
    assert split.train.input_shape == (80,) and split.train.vocab_size == 80
    assert sorted(set(split.train.client_ids.tolist())) == [0, 1, 2, 3, 4] and len(split.test) > 0
