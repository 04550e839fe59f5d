"""Reproductions of the two quantized-FL papers: report structure, reference checks, the loop."""

import json

import pytest

import fedsim
from fedsim.reproduce import reproduce


def test_p1_tradeoff_report_passes_its_reference_checks(tmp_path):
    report = reproduce(fedsim.compose(["scenario=kim2022_tradeoff"]), tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["scenario"] == "kim2022_tradeoff"
    names = {c["name"] for c in data["checks"]}
    assert {"n_min", "T(I=1, K=50, m=32, n=32) [rounds]", "energy vs precision is U-shaped (interior minimum)"} <= names
    for check in data["checks"]:
        assert set(check) >= {"name", "paper", "measured", "tolerance", "passed"}
        assert check["passed"], check
    curve = data["data"]["line_search"]
    best = curve["n_values"].index(curve["n"])
    assert 0 < best < len(curve["n_values"]) - 1  # U-shaped: the minimum is inside
    assert 0 < curve["saving"] < 0.53  # below the paper's headline, for the stated reason
    assert "53%" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "energy_vs_precision.png").stat().st_size > 0
    assert report.passed


@pytest.mark.slow
def test_p2_green_qfl_report_with_the_closed_loop(shared_mnist_dir, tmp_path):
    config = fedsim.compose(["scenario=kim2023_green_qfl", f"dataset.path={shared_mnist_dir}"])
    report = reproduce(config, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    failed = [c for c in data["checks"] if not c["passed"]]
    assert failed == []
    assert len(data["checks"]) >= 10
    nbs = data["data"]["choices"]["nbs"]
    assert (nbs["I"], nbs["K"], nbs["m"], nbs["n"]) == (1, 4, 12, 20)
    loop = data["data"]["closed_loop"]
    assert loop["reached_by_both"]
    # The bound-optimal point costs less energy to the target, close to what the bound predicts.
    assert loop["measured_ratio"] < 1.0
    assert loop["measured_ratio"] == pytest.approx(loop["predicted_ratio"], rel=0.2)
    for name in ("pareto.png", "epsilon_sweep.png", "closed_loop/tradeoff.png", "report.md", "pareto.csv", "choice.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert report.passed
