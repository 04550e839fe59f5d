"""MKOR vs SGD vs AdamW as the devices' optimizer (slow: three federated runs)."""

import json

import pytest

import fedsim
from fedsim.reproduce import reproduce


@pytest.mark.slow
def test_mkor_report_compares_rounds_to_target(tmp_path):
    report = reproduce(fedsim.compose(["scenario=mkor_optimizers"]), tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert [c["name"] for c in data["constants"] if not c["passed"]] == []
    assert [c["name"] for c in data["claims"] if c["status"] != "reproduced"] == []
    rounds = data["headline"]["measured"]["rounds_to_target"]
    assert set(rounds) == {"sgd", "adamw", "mkor"} and rounds["mkor"] is not None
    assert data["data"]["mkor"]["summary"]["energy_compute_j"] > data["data"]["sgd"]["summary"]["energy_compute_j"]
    assert report.passed
