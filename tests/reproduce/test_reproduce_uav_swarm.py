"""fedsim reproduce zeng2020_uav_swarm: P3 reconstructed, trained in the swarm World (slow)."""

from __future__ import annotations

import json

import pytest

import fedsim
from fedsim.reproduce import reproduce


@pytest.mark.slow
def test_p3_report_joint_design_beats_the_baseline(shared_mnist_dir, tmp_path):
    config = fedsim.compose(["scenario=zeng2020_uav_swarm", f"dataset.path={shared_mnist_dir}"])
    report = reproduce(config, tmp_path)
    assert report.passed, [c for c in report.checks if not c.passed]
    payload = json.loads((tmp_path / "report.json").read_text())
    assert payload["headline"]["paper"] == 0.35 and payload["headline"]["measured"] > 0
    assert payload["claims"] and all({"name", "paper", "measured", "tolerance", "status"} <= set(c) and "passed" not in c for c in payload["claims"])
    for figure in ("rounds_vs_pointing_error.png", "loss_with_bound.png", "swarm_snapshot.png"):
        assert (tmp_path / figure).is_file()
