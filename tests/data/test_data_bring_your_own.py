"""A user's own data: an npz of arrays and a Hugging Face dataset, partitioned by flwr-datasets."""

from __future__ import annotations

import numpy as np
import pytest

from fedsim.config import RunConfig
from fedsim.data import load_dataset
from fedsim.errors import ConfigError, DataError
from fedsim.tasks import build_task


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_npz_colour_images_channels_last(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    path = _write_npz(tmp_path / "c.npz", x_train=x[:30], y_train=np.arange(30) % 4, x_test=x[30:], y_test=np.arange(10) % 4)
    split = load_dataset("npz", path, channels_last=True)
    assert split.train.input_shape == (3, 32, 32) and split.train.num_classes == 4 and len(split.test) == 10
    np.testing.assert_array_equal(split.train.x[5, 2], x[5, :, :, 2] / np.float32(255))


def test_npz_features_tokens_and_natural_clients(tmp_path):
    features = _write_npz(tmp_path / "f.npz", x_train=np.linspace(-3, 3, 20, dtype=np.float32).reshape(10, 2),
                          y_train=np.arange(10) % 3, x_test=np.zeros((2, 2), np.float64), y_test=np.array([0, 2]),
                          client_train=np.array(list("aabbbccccc")))
    split = load_dataset("npz", features)
    assert split.train.input_shape == (2,) and split.train.x.min() == -3.0 and split.train.client_ids.tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 2, 2]
    tokens = _write_npz(tmp_path / "t.npz", x_train=np.array([[1, 2], [3, 4]]), y_train=np.array([0, 1]),
                        x_test=np.array([[6, 0]]), y_test=np.array([1]))
    t = load_dataset("npz", tokens)
    assert t.train.is_tokens and t.train.vocab_size == 7 and t.train.x.dtype == np.int64


@pytest.mark.parametrize(
    ("arrays", "fragment"),
    [
        ({"x_train": np.zeros((2, 3), np.float32), "y_train": np.array([0, 1])}, "missing array(s) x_test, y_test"),
        ({"x_train": np.zeros((2, 3)), "y_train": np.array([0, 1]), "x_test": np.zeros((1, 4)), "y_test": np.array([0])}, "differ"),
        ({"x_train": np.zeros((2, 3)), "y_train": np.array([0.5, 1]), "x_test": np.zeros((1, 3)), "y_test": np.array([0])}, "labels must be integers"),
        ({"x_train": np.zeros((2, 3)), "y_train": np.array([0, 1, 1]), "x_test": np.zeros((1, 3)), "y_test": np.array([0])}, "one integer per example (2)"),
        ({"x_train": np.zeros((2, 3)), "y_train": np.array([-1, 1]), "x_test": np.zeros((1, 3)), "y_test": np.array([0])}, "labels must be >= 0"),
        ({"x_train": np.full((2, 3), np.inf), "y_train": np.array([0, 1]), "x_test": np.zeros((1, 3)), "y_test": np.array([0])}, "finite"),
        ({"x_train": np.array([[{}], [{}]], dtype=object), "y_train": np.array([0, 1]), "x_test": np.zeros((1, 1)), "y_test": np.array([0])}, "not a readable .npz"),
    ],
    ids=["missing", "shapes", "float-labels", "label-count", "negative", "inf", "object"],
)
def test_npz_bad_files_are_one_line(tmp_path, arrays, fragment):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises((DataError, ConfigError)) as caught:
        load_dataset("npz", str(path))
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def _save_hf(tmp_path, n=120, with_test=True):
    import datasets
    from PIL import Image

    rng = np.random.default_rng(1)
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(num_classes=4),
                                  "writer": datasets.Value("string"), "idx": datasets.Value("int64")})

    def table(count, offset):
        return datasets.Dataset.from_dict({
            "img": [Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)) for _ in range(count)],
            "label": (np.arange(count) * 7 % 4).tolist(), "writer": [f"w{i % 5}" for i in range(count)],
            "idx": list(range(offset, offset + count))}, features=features)

    parts = {"train": table(n, 0)}
    if with_test:
        parts["test"] = table(20, n)
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "hf"))
    return tmp_path / "hf"


def _config(**sections) -> RunConfig:
    base = {"rounds": 1, "world": {"num_devices": 6}, "op": {"devices_per_round": 2, "local_iters": 1}, "model": {"hidden": [8]}}
    return RunConfig.from_mapping({**base, **sections})


def test_hf_dirichlet_partition_equals_flwr_datasets_own(tmp_path):
    """The acceptance check: a save_to_disk directory, partition.kind=dirichlet, seed 11, and
    flwr-datasets' DirichletPartitioner run on the same split give the same partitions."""
    import datasets
    from flwr_datasets.partitioner import DirichletPartitioner

    directory = _save_hf(tmp_path)
    task = build_task(_config(seed=11, dataset={"name": "hf", "path": str(directory), "image_key": "img"},
                              partition={"kind": "dirichlet", "alpha": 0.4, "min_partition_size": 3}))
    assert task.input_shape == (3, 6, 6) and task.num_classes == 4
    theirs = DirichletPartitioner(num_partitions=6, partition_by="label", alpha=0.4, min_partition_size=3,
                                  self_balancing=False, seed=11)
    theirs.dataset = datasets.load_from_disk(str(directory))["train"]
    for device, ours in enumerate(task.partitions):
        assert ours.tolist() == theirs.load_partition(device)["idx"], device


def test_hf_natural_clients_and_a_held_out_test_split(tmp_path):
    directory = _save_hf(tmp_path, n=100, with_test=False)
    task = build_task(_config(dataset={"name": "hf", "path": str(directory), "image_key": "img", "client_key": "writer",
                                       "test_fraction": 0.25}, partition={"kind": "natural_id"}, world={"num_devices": 5}))
    assert len(task.data.test) == 25 and len(task.data.train) == 75
    writers = task.data.train.client_ids
    assert sorted(len(np.unique(writers[p])) for p in task.partitions) == [1] * 5


def test_hf_bad_input(tmp_path):
    directory = _save_hf(tmp_path, n=30)
    with pytest.raises(ConfigError, match=r"^dataset\.image_key='image' is not allowed: a column of .* \(it has img, label, writer, idx\)"):
        load_dataset("hf", str(directory))
    with pytest.raises(ConfigError, match=r"^dataset\.train_split='validation' is not allowed"):
        load_dataset("hf", str(directory), image_key="img", train_split="validation")
    with pytest.raises(DataError, match="not a datasets save_to_disk directory"):
        load_dataset("hf", str(tmp_path))
    with pytest.raises(ConfigError, match=r"^dataset\.download=False is not allowed: true to fetch"):
        load_dataset("hf", None, hf_name="someone/data")
