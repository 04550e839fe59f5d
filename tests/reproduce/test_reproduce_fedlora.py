"""The compressed-LLM comparison scenario end to end (slow: three federated runs)."""

import json

import pytest

import fedsim
from fedsim.reproduce import reproduce


@pytest.mark.slow
def test_fedlora_comparison_report(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDSIM_CACHE_DIR", str(tmp_path / "cache"))
    report = reproduce(fedsim.compose(["scenario=fedlora_compressed_lm"]), tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert [c for c in data["constants"] if not c["passed"]] == [] and [c for c in data["claims"] if c["status"] != "reproduced"] == []
    ppl = {name: run["perplexity"] for name, run in data["data"].items()}
    assert ppl["compressed_slim"][-1] < ppl["compressed_no_compensation"][-1]
    energy = {name: run["summary"]["total_energy_j"] for name, run in data["data"].items()}
    assert energy["compressed_slim"] < energy["dense_lora"]  # the 4-bit sparse base is cheaper to run
    assert (tmp_path / "runs" / "perplexity_vs_energy.png").stat().st_size > 0
    assert report.passed
