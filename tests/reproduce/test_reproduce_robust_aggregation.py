"""Robust aggregation against Byzantine devices (slow: eight federated runs, ~50 s on 2 cores)."""

import csv

import pytest
from run_helpers import reproduced_report

from fedsim.reproduce._robust_aggregation import tail_accuracy

STRATEGIES = ("fedavg", "fedmedian", "krum", "fedtrimmedavg")


def test_tail_accuracy_is_the_mean_of_the_last_rounds():
    assert tail_accuracy([0.1, 0.5, 0.7, 0.9], 2) == pytest.approx(0.8)
    assert tail_accuracy([0.1, 0.5], 5) == pytest.approx(0.3)  # fewer rounds than the tail: all of them


@pytest.mark.slow
def test_fedavg_collapses_and_the_robust_rules_hold_under_sign_flipping(tmp_path):
    report = reproduced_report(["scenario=robust_aggregation"], tmp_path, figures=("accuracy_vs_rounds.png",))
    runs = report["data"]["runs"]
    assert set(runs) == set(STRATEGIES) and all(set(r) == {"clean", "attacked"} for r in runs.values())
    assert runs["fedavg"]["attacked"]["tail_accuracy"] < 0.2 < 0.9 < runs["fedavg"]["clean"]["tail_accuracy"]  # near chance
    for name in STRATEGIES[1:]:
        assert runs[name]["attacked"]["tail_accuracy"] > 0.85, name
    # Same seed: the same devices attack the same rounds whatever the strategy.
    flagged = {name: [row["byzantine"] for row in csv.DictReader(open(tmp_path / "runs" / "attacked" / name / "devices.csv"))]
               for name in STRATEGIES}
    assert len({tuple(f) for f in flagged.values()}) == 1 and "1" in flagged["fedavg"]
    with open(tmp_path / "runs" / "clean" / "fedavg" / "devices.csv") as fh:
        assert "byzantine" not in fh.readline()
