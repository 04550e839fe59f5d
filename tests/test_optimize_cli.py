"""`fedsim optimize` on the paper scenario: files, columns and the chosen points."""

import csv
import json
import subprocess
import sys


def test_optimize_writes_front_choices_and_figure(tmp_path):
    out = tmp_path / "opt"
    proc = subprocess.run(
        [sys.executable, "-m", "fedsim", "optimize", "scenario=kim2023_green_qfl", "optimizer.n_points=30", f"hydra.run.dir={out}"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    with open(out / "pareto.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["I", "K", "m", "n", "energy_j", "rounds"]
    energies = [float(r["energy_j"]) for r in rows]
    rounds = [float(r["rounds"]) for r in rows]
    assert energies == sorted(energies) and rounds == sorted(rounds, reverse=True)  # a front
    assert all(int(r["n"]) >= 15 for r in rows)  # n_min = 15
    choice = json.loads((out / "choice.json").read_text())
    for name in ("nbs", "sum", "e_min", "t_min"):
        assert set(choice[name]) == {"I", "K", "m", "n", "energy_j", "rounds"}
    assert choice["e_min"]["energy_j"] <= choice["nbs"]["energy_j"] <= choice["t_min"]["energy_j"]
    assert choice["t_min"]["rounds"] <= choice["nbs"]["rounds"] <= choice["e_min"]["rounds"]
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "nbs" in proc.stdout


def test_optimize_rejects_a_bad_value_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "fedsim", "optimize", "theory.mu=-1", f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("fedsim: error: theory.mu=-1")


def test_reproduce_exits_one_when_a_check_fails_and_still_writes_the_report(tmp_path):
    out = tmp_path / "rep"
    # A looser target gap changes n_min and T, so the paper's numbers no longer hold.
    proc = subprocess.run(
        [sys.executable, "-m", "fedsim", "reproduce", "kim2022_tradeoff", "theory.epsilon=0.5", f"hydra.run.dir={out}"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "FAIL  n_min: paper 15, fedsim 14" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["constants_passed"] is False  # a constant failed: the command fails
    proc = subprocess.run([sys.executable, "-m", "fedsim", "reproduce"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "kim2023_green_qfl" in proc.stderr
