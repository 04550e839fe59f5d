"""The LEAF sets run end to end with their natural partitions: one device per writer or role,
from local LEAF files and from Flower's hub copies (the hub stubbed with the same columns)."""

from __future__ import annotations

import numpy as np
import pytest

import fedsim
from data.data_helpers import (
    FEMNIST_WRITERS,
    femnist_fixture,
    shakespeare_fixture,
    write_femnist_tree,
    write_shakespeare_tree,
)
from fedsim.tasks import build_task

TINY = ["rounds=1", "op.devices_per_round=2", "op.local_iters=1", "train.batch_size=2", "partition=natural_id"]


def test_femnist_runs_one_device_per_writer(tmp_path):
    tree = write_femnist_tree(tmp_path / "femnist", femnist_fixture())
    config = fedsim.compose([*TINY, "dataset=femnist", f"dataset.path={tree}", "model=cnn", "world.num_devices=3"])
    task = build_task(config)
    writers = task.data.train.client_ids
    assert [np.unique(writers[p]).tolist() for p in task.partitions] == [[0], [1], [2]]
    # Writers numbered in name order: f0003_10, f0117_31, f0200_45.
    assert [len(p) for p in task.partitions] == [FEMNIST_WRITERS[w][0] for w in sorted(FEMNIST_WRITERS)]
    result = fedsim.run(config, tmp_path / "run")
    assert result.summary["rounds"] == 1 and {row["device"] for row in result.devices} <= {0, 1, 2}


def test_femnist_from_the_hub_copy(tmp_path, monkeypatch):
    """dataset.download=true reads flwrlabs/femnist's columns (image, character, writer_id)."""
    import datasets
    from PIL import Image

    fixture = femnist_fixture()["train"]
    rows = [(Image.fromarray(img), int(label), writer) for writer, (imgs, labels) in fixture.items() for img, label in zip(imgs, labels)]
    table = datasets.Dataset.from_dict({"image": [r[0] for r in rows], "character": [r[1] for r in rows], "writer_id": [r[2] for r in rows]})
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda repo, split: calls.append((repo, split)) or table)
    config = fedsim.compose([*TINY, "dataset=femnist", "dataset.download=true", "model=cnn", "world.num_devices=3", "dataset.test_fraction=0.3"])
    task = build_task(config)
    assert len(task.data.train) + len(task.data.test) == len(rows) and len(np.unique(task.data.train.client_ids)) == 3
    assert calls == [("flwrlabs/femnist", "train")]


def test_shakespeare_tokens_by_role(tmp_path):
    tree = write_shakespeare_tree(tmp_path / "shakespeare", shakespeare_fixture())
    config = fedsim.compose([*TINY, "dataset=shakespeare", f"dataset.path={tree}", "world.num_devices=3"])
    task = build_task(config)
    assert task.input_shape == (80,) and task.vocab_size == 80 and task.num_classes == 80
    assert sorted(len(p) for p in task.partitions) == [2, 2, 3]
    # Next-character prediction by role, on LEAF's model (a small LSTM here).
    result = fedsim.run(fedsim.compose([*TINY, "dataset=shakespeare", f"dataset.path={tree}", "world.num_devices=3",
                                        "model=char_lstm", "model.hidden=[16]", "op.train_bits=32"]), tmp_path / "run")
    assert result.summary["rounds"] == 1 and result.summary["workload"]["macs"] > 0
