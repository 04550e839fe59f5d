"""Dataset, load_dataset: digits and IDX directories (synthetic and the real MNIST t10k)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_helpers import T10K_FILES, write_idx

import fedsim.data._load as load_module
from fedsim.data import DATASETS, Dataset, DataSplit, load_dataset
from fedsim.errors import ConfigError, DataError


def _class_counts(ds: Dataset) -> np.ndarray:
    return np.bincount(ds.y, minlength=ds.num_classes)


def _assert_same(a: DataSplit, b: DataSplit) -> None:
    for part_a, part_b in ((a.train, b.train), (a.test, b.test)):
        np.testing.assert_array_equal(part_a.x, part_b.x)
        np.testing.assert_array_equal(part_a.y, part_b.y)


def _assert_stratified(split: DataSplit, test_fraction: float) -> None:
    train, test = _class_counts(split.train), _class_counts(split.test)
    # Largest-remainder rounding: each class within one sample of its exact share.
    assert np.all(np.abs(test - test_fraction * (train + test)) < 1)


# --- Dataset -------------------------------------------------------------------------------------


def _tiny(n: int = 6) -> Dataset:
    x = np.linspace(0, 1, n * 4, dtype=np.float32).reshape(n, 1, 2, 2)
    return Dataset(x=x, y=np.arange(n, dtype=np.int64) % 3, num_classes=3, name="tiny")


def test_dataset_basics() -> None:
    ds = _tiny()
    assert len(ds) == 6 and ds.input_shape == (1, 2, 2)
    sub = ds.subset([4, 1])
    assert len(sub) == 2 and sub.name == "tiny" and sub.num_classes == 3
    np.testing.assert_array_equal(sub.y, [1, 1])
    np.testing.assert_array_equal(sub.x, ds.x[[4, 1]])
    with pytest.raises(AttributeError):
        ds.name = "other"  # type: ignore[misc]


def test_dataset_takes_features_and_tokens() -> None:
    features = Dataset(x=np.array([[-3.0, 7.5]], np.float32), y=np.zeros(1, np.int64), num_classes=2, name="f")
    assert features.input_shape == (2,) and not features.is_tokens
    tokens = Dataset(x=np.array([[1, 2, 3], [0, 4, 4]], np.int64), y=np.array([3, 1], np.int64), num_classes=5,
                     name="t", vocab_size=5, client_ids=np.array([7, 9], np.int64))
    part = tokens.subset([1])
    assert part.input_shape == (3,) and part.is_tokens and part.client_ids.tolist() == [9] and part.x.tolist() == [[0, 4, 4]]


@pytest.mark.parametrize(
    "change",
    [
        {"x": np.zeros((2, 2, 2), np.float32)},
        {"x": np.zeros((2, 1, 2, 2), np.float64)},
        {"x": np.full((2, 1, 2, 2), np.nan, np.float32)},
        {"y": np.zeros(2, np.int32)},
        {"y": np.zeros(3, np.int64)},
        {"y": np.array([0, 5], np.int64)},
        {"x": np.zeros((2, 4), np.float32), "vocab_size": 5},  # tokens must be int64
        {"x": np.array([[0, 5], [1, 2]], np.int64), "vocab_size": 5},  # id out of the vocabulary
        {"x": np.zeros((2, 4), np.int64)},  # int inputs without a vocabulary
        {"client_ids": np.array([0, -1], np.int64)},
        {"client_ids": np.zeros(3, np.int64)},
    ],
    ids=["3d", "float64", "nonfinite", "int32", "length", "label", "tokens-float", "token-range", "int-no-vocab",
         "client-negative", "client-length"],
)
def test_dataset_rejects_bad_layout(change: dict[str, np.ndarray]) -> None:
    fields = {"x": np.zeros((2, 1, 2, 2), np.float32), "y": np.zeros(2, np.int64), **change}
    with pytest.raises(DataError):
        Dataset(num_classes=3, name="bad", **fields)


# --- config errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"name": "imagenet"}, "dataset.name"),
        ({"name": "digits", "test_fraction": 0.0}, "dataset.test_fraction"),
        ({"name": "digits", "test_fraction": 1.0}, "dataset.test_fraction"),
        ({"name": "digits", "test_fraction": -0.5}, "dataset.test_fraction"),
        ({"name": "digits", "test_fraction": "0.2"}, "dataset.test_fraction"),
        ({"name": "mnist"}, "dataset.path"),
        ({"name": "fashion_mnist", "path": "/nonexistent/fedsim"}, "dataset.path"),
    ],
)
def test_config_errors_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset(**kwargs)
    message = str(info.value)
    assert message.startswith(key + "=") and "\n" not in message


def test_directory_without_idx_files(tmp_path: Path) -> None:
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"images without labels")
    with pytest.raises(ConfigError, match="dataset.path=.*t10k-images-idx3-ubyte"):
        load_dataset("mnist", path=str(tmp_path))


# --- digits --------------------------------------------------------------------------------------


def test_digits_split() -> None:
    split = load_dataset("digits", test_fraction=0.25, seed=3)
    assert DATASETS[:3] == ("digits", "mnist", "fashion_mnist") and {"npz", "hf", "cifar10", "femnist", "shakespeare"} <= set(DATASETS)
    assert len(split.train) + len(split.test) == 1797
    assert len(split.test) == round(0.25 * 1797)
    for part in (split.train, split.test):
        assert part.name == "digits" and part.num_classes == 10 and part.input_shape == (1, 8, 8)
        assert part.x.dtype == np.float32 and part.y.dtype == np.int64
        assert 0.0 <= part.x.min() and part.x.max() <= 1.0
    assert split.train.x.max() == 1.0  # scaled by 1/16, not by the observed maximum
    _assert_stratified(split, 0.25)


def test_digits_split_is_seeded() -> None:
    _assert_same(load_dataset("digits", seed=1), load_dataset("digits", seed=1))
    other = load_dataset("digits", seed=2)
    assert not np.array_equal(load_dataset("digits", seed=1).test.x, other.test.x)


# --- IDX directories -----------------------------------------------------------------------------


def _write_pair(directory: Path, prefix: str, n: int, seed: int, compress: bool) -> None:
    rng = np.random.default_rng(seed)
    suffix = ".gz" if compress else ""
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n, dtype=np.uint8) % 10, compress)


def test_official_split_when_train_pair_present(tmp_path: Path) -> None:
    _write_pair(tmp_path, "train", 60, seed=0, compress=False)
    _write_pair(tmp_path, "t10k", 30, seed=1, compress=True)
    split = load_dataset("fashion_mnist", path=str(tmp_path), test_fraction=0.5)
    assert (len(split.train), len(split.test)) == (60, 30)
    assert split.train.name == "fashion_mnist" and split.train.input_shape == (1, 28, 28)
    assert split.train.x.max() <= 1.0 and split.train.x.max() > 0.99


def test_single_pair_is_split_stratified(tmp_path: Path) -> None:
    _write_pair(tmp_path, "t10k", 100, seed=0, compress=False)
    split = load_dataset("mnist", path=str(tmp_path), test_fraction=0.3, seed=5)
    assert (len(split.train), len(split.test)) == (70, 30)
    _assert_stratified(split, 0.3)


def test_idx_labels_must_match_images(tmp_path: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="labels"):
        load_dataset("mnist", path=str(tmp_path))


def test_download_when_directory_is_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_download(name: str, root: Path) -> Path:
        calls.append((name, Path(root)))
        Path(root).mkdir(parents=True)
        _write_pair(Path(root), "t10k", 20, seed=0, compress=True)
        return Path(root)

    monkeypatch.setattr(load_module, "download_idx", fake_download)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    split = load_dataset("fashion_mnist", download=True)
    assert calls == [("fashion_mnist", tmp_path / "home" / ".cache" / "fedsim" / "fashion_mnist")]
    assert len(split.train) + len(split.test) == 20
    load_dataset("mnist", path=str(tmp_path / "given"), download=True)
    assert calls[-1] == ("mnist", tmp_path / "given")


# --- the real MNIST t10k files -------------------------------------------------------------------


def test_real_mnist_t10k_only(mnist_dir: Path) -> None:
    split = load_dataset("mnist", path=str(mnist_dir), test_fraction=0.2, seed=0)
    assert len(split.train) + len(split.test) == 10_000
    assert (len(split.train), len(split.test)) == (8_000, 2_000)
    for part in (split.train, split.test):
        assert part.input_shape == (1, 28, 28) and part.num_classes == 10
        assert part.x.dtype == np.float32 and 0.0 <= part.x.min() and part.x.max() <= 1.0
    _assert_stratified(split, 0.2)


def test_real_mnist_raw_copy_and_seed(mnist_dir: Path, tmp_path: Path) -> None:
    # A decompressed file keeps its .gz name here: the reader must go by content.
    shutil.copy(mnist_dir / T10K_FILES[0], tmp_path / T10K_FILES[0])
    (tmp_path / T10K_FILES[1]).write_bytes(gzip.decompress((mnist_dir / T10K_FILES[1]).read_bytes()))
    a = load_dataset("mnist", path=str(tmp_path), seed=7)
    _assert_same(a, load_dataset("mnist", path=str(mnist_dir), seed=7))
    assert not np.array_equal(a.test.y, load_dataset("mnist", path=str(mnist_dir), seed=8).test.y)


def test_digits_are_read_as_scikit_learn_reads_them_without_importing_it():
    """fedsim reads sklearn's bundled digits.csv.gz itself: importing sklearn costs start-up."""
    import subprocess
    import sys

    probe = "import sys; from fedsim.data._digits import load_digits_arrays; load_digits_arrays(); print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "False"
    from sklearn.datasets import load_digits

    from fedsim.data._digits import load_digits_arrays

    images, labels = load_digits_arrays()
    bunch = load_digits()
    assert images.dtype == bunch.images.dtype and labels.dtype == bunch.target.dtype
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(labels, bunch.target)
