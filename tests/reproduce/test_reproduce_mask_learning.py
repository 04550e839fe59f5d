"""The federated mask-learning scenario end to end (slow: two federated runs)."""

import json

import pytest

import fedsim
from fedsim.reproduce import reproduce


@pytest.mark.slow
def test_mask_learning_report_compares_with_the_one_shot_masks(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDSIM_CACHE_DIR", str(tmp_path / "cache"))
    report = reproduce(fedsim.compose(["scenario=fedmask_learnable_lm"]), tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert [c["name"] for c in data["constants"] if not c["passed"]] == []
    assert [c["name"] for c in data["claims"] if c["status"] != "reproduced"] == []
    for mask in ("leap", "patch"):
        run = data["data"][mask]
        one_shot = run["summary"]["masks"]["one_shot_test_perplexity"]
        assert run["perplexity"][-1] < run["perplexity"][0]  # federated learning improved the Wanda start
        assert run["perplexity"][-1] < one_shot["wanda"]  # and beats one-shot Wanda at equal sparsity
        assert data["headline"]["measured"][mask]["sparsegpt"] == pytest.approx(one_shot["sparsegpt"], abs=1e-3)
    assert (tmp_path / "runs" / "perplexity_vs_energy.png").stat().st_size > 0
    assert report.passed
