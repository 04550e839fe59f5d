"""`fedsim plot` refuses damaged ledgers with one line and writes no figure."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

HEADER = "round,test_accuracy,test_loss,energy_cum_j,sim_time_s\n"
ROW = "1,0.5,1.2,0.01,0.1\n"


def _run_dir(tmp_path, rounds: bytes | str, summary: str = '{"final_accuracy": 0.5}\n'):
    run = tmp_path / "run"
    run.mkdir()
    (run / "rounds.csv").write_bytes(rounds if isinstance(rounds, bytes) else rounds.encode())
    (run / "summary.json").write_text(summary)
    return run


@pytest.mark.parametrize(
    "rounds, summary, message",
    [
        ("", None, "is empty"),
        (HEADER, None, "has a header but no rounds"),
        (HEADER + ROW + "2,0.6,1.", None, "line 3 has 3 fields, the header 5"),
        (b"\x00\x01\x02round\xff\xfe", None, "not UTF-8 text"),
        ("a,b\n1,2\n", None, "no 'round' column"),
        (HEADER + ROW, '{"final_accuracy": 0.', "is not valid JSON"),
    ],
)
def test_plot_refuses_a_damaged_ledger_in_one_line(tmp_path, rounds, summary, message):
    run = _run_dir(tmp_path, rounds, summary or '{"final_accuracy": 0.5}\n')
    proc = subprocess.run([sys.executable, "-m", "fedsim", "plot", str(run)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fedsim: error: ") and message in lines[0], proc.stderr
    assert not list(run.glob("*.png"))


def test_a_whole_ledger_still_plots(tmp_path):
    run = _run_dir(tmp_path, HEADER + ROW + "2,0.6,1.0,0.02,0.2\n", json.dumps({"final_accuracy": 0.6}))
    from analysis import load_run

    data = load_run(run)
    assert data.rounds["round"].tolist() == [1.0, 2.0]
    shutil.rmtree(run)
