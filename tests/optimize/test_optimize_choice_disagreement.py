"""choice.json says what its disagreement point is, how far it lies beyond the front, and why."""

from __future__ import annotations

import csv
import json

import numpy as np
import fedsim
from fedsim.controller import study, write_study


def _choice(tmp_path, *overrides):
    s = study(fedsim.compose(["optimizer.n_points=12", "optimizer.exhaustive=false", *overrides]))
    write_study(s, tmp_path, plot=False)
    with open(tmp_path / "pareto.csv") as handle:
        front = np.array([[float(r["energy_j"]), float(r["rounds"])] for r in csv.DictReader(handle)])
    return s, json.loads((tmp_path / "choice.json").read_text()), front


def test_the_papers_disagreement_point_is_its_design_far_beyond_the_front_and_says_so(tmp_path):
    s, choice, front = _choice(tmp_path)
    d = choice["disagreement"]
    n_min = choice["n_min"]
    assert d["kind"] == "paper" and d["design"] == {"I": 30, "K": 1, "m": 1, "n": n_min}
    np.testing.assert_allclose([d["energy_j"], d["rounds"]], s.problem.objectives(np.array([30, 1, 1, n_min]))[0])
    np.testing.assert_allclose([d["front_worst"]["energy_j"], d["front_worst"]["rounds"]], front.max(axis=0))
    ratio = np.array([d["energy_j"], d["rounds"]]) / front.max(axis=0)
    assert (ratio > 10).all()  # a 1-bit uplink barely converges: far beyond the front
    text = d["explanation"]
    assert f"I = 30 (optimizer.max_local_iters), K = 1, m = 1, n = n_min = {n_min}" in text
    assert f"{ratio[0]:.3g}x and {ratio[1]:.3g}x" in text and "far beyond the front in energy and rounds" in text
    nearer = "energy" if ratio[0] < ratio[1] else "rounds"
    assert f"favours saving {nearer}" in text
    # ... and the pick does favour it: the NBS point is the E_min end of the front's E/d_E + T/d_T
    weighted = front[:, 0] / d["energy_j"] + front[:, 1] / d["rounds"]
    np.testing.assert_allclose(front[np.argmin(weighted)], [choice["nbs"]["energy_j"], choice["nbs"]["rounds"]], rtol=0.05)


def test_a_pseudo_nadir_disagreement_point_is_the_fronts_worst_and_is_not_called_far(tmp_path):
    s, choice, front = _choice(tmp_path, "optimizer.disagreement=pseudo_nadir")
    d = choice["disagreement"]
    assert d["kind"] == "pseudo_nadir" and d["design"] is None
    np.testing.assert_allclose([d["energy_j"], d["rounds"]], s.front.nadir)  # the worst over the NBI anchors
    assert "pseudo-nadir" in d["explanation"] and "far beyond" not in d["explanation"]
    assert (np.array([d["energy_j"], d["rounds"]]) <= 10 * front.max(axis=0)).all()


def test_a_baseline_disagreement_point_is_full_precision_at_the_configured_i_and_k(tmp_path):
    s, choice, _ = _choice(tmp_path, "optimizer.disagreement=baseline", "op.local_iters=3", "op.devices_per_round=4")
    d = choice["disagreement"]
    assert d["kind"] == "baseline" and d["design"] == {"I": 3, "K": 4, "m": 32, "n": 32}
    np.testing.assert_allclose([d["energy_j"], d["rounds"]], s.problem.objectives(np.array([3, 4, 32, 32]))[0])
    assert "I = 3 (op.local_iters) and K = 4 (op.devices_per_round)" in d["explanation"]
