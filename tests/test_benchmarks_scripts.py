"""Every benchmark starts as a script (``python benchmarks/NAME.py``), where sys.path[0] is
benchmarks/ itself and benchmarks/kernels.py could shadow the kernels package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["engine_overhead", "kernels", "pareto", "world_throughput"])
def test_a_benchmark_runs_as_a_script(name):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-1500:]
    assert "usage" in out.stdout
