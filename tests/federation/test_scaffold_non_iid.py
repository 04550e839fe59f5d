"""SCAFFOLD against FedAvg on strongly non-IID data (Dirichlet alpha = 0.1), the paper's setting:
plain local SGD, same seed, data, devices and radio."""

from __future__ import annotations

import pytest

import fedsim

NON_IID = ["partition=dirichlet", "partition.alpha=0.1", "rounds=60", "train.momentum=0"]


@pytest.mark.slow
def test_scaffold_reaches_the_target_in_fewer_rounds_than_fedavg(tmp_path):
    rounds = {}
    for name in ("fedavg", "scaffold"):
        result = fedsim.run(fedsim.compose([*NON_IID, f"strategy={name}"]), tmp_path / name)
        rounds[name] = result.summary["rounds_to_target"]  # target_accuracy 0.85
    # Measured (seed 0): FedAvg 54 rounds, SCAFFOLD 38.
    assert rounds["scaffold"] is not None
    assert rounds["fedavg"] is None or rounds["scaffold"] < rounds["fedavg"], rounds
