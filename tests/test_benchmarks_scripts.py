"""Every benchmark starts as a script (``python benchmarks/NAME.py``), where sys.path[0] is
benchmarks/ itself and benchmarks/kernels.py could shadow the kernels package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["async_world", "engine_overhead", "engines", "kernels", "parallel_sweep", "pareto", "startup", "world_throughput"])
def test_a_benchmark_runs_as_a_script(name):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-1500:]
    assert "usage" in out.stdout


@pytest.mark.slow
def test_the_engines_benchmark_compares_the_sequential_cohort_and_ray_engines():
    import json

    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "engines.py"), "--quick"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("load average at start")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ledger_identical"] is True
    (row,) = result["settings"]
    assert row["cohort_same_world"] is True
    assert result["speedup_vs_ray"] == row["ray_s"] / row["cohort_s"]
    assert result["cohort_speedup_vs_sequential"] == row["in_process_s"] / row["cohort_s"]
    assert result["cohort_max_rel_diff"] <= 1e-5
    assert result["overhead_vs_plain"] > 0 and result["peak_memory_per_device_bytes"] > 0


def test_the_async_world_benchmark_reports_events_against_the_sync_world():
    import json

    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "async_world.py"), "--quick"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("load average at start")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["jobs"] == 2_000 and result["device_events"] > result["jobs"]  # ready, rate changes, arrivals, on/off
    assert result["ratio_vs_sync"] == pytest.approx(result["async_device_jobs_per_s"] / result["sync_device_rounds_per_s"])
    assert result["met"] == (result["device_events_per_s"] >= result["target_device_events_per_s"] == 100_000)
    runs = result["device_events_per_s_runs"]  # three fresh worlds of one seed (the script checks their counts agree)
    assert result["repeats"] == len(runs) == 3 and result["device_events_per_s"] == sorted(runs)[1]
    assert result["device_events_per_reference_op"] == pytest.approx(result["device_events_per_s"] / result["python_reference_ops_per_s"])


BENCHMARK_SCRIPTS = ["async_world", "engine_overhead", "engines", "kernels", "parallel_sweep", "pareto", "startup", "world_throughput"]


@pytest.mark.parametrize("name", BENCHMARK_SCRIPTS)
def test_every_benchmark_prints_the_load_average_through_the_shared_helper(name):
    source = (ROOT / "benchmarks" / f"{name}.py").read_text()
    assert "print_load_average()" in source and "getloadavg" not in source  # one helper, no copies


def test_the_world_benchmark_reports_rates_the_naive_ratio_memory_and_the_target():
    import json

    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "world_throughput.py"), "--quick"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("load average at start")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["device_rounds_per_s_1000"] > 0 and result["speedup_vs_naive_100"] > 1
    assert result["naive_device_rounds_per_s_100"] * result["speedup_vs_naive_100"] == pytest.approx(result["device_rounds_per_s_100"])
    assert 0 < result["state_bytes_per_device_1000"] < 10_000 and result["round_peak_bytes_per_device_1000"] > 0
    assert result["met"] is False  # --quick has no 10k run to meet the target with
