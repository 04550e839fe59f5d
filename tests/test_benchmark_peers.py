"""benchmarks/peers.py: fedsim against pfl-research, whole process to whole process. pfl lives in
its own interpreter (FEDSIM_PEERS_PFL_PYTHON); without it the benchmark times fedsim alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "peers.py"


def test_the_peers_benchmark_runs_as_a_script_and_prints_the_load_average_through_the_shared_helper():
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-1500:]
    assert "usage" in out.stdout and "--pfl-python" in out.stdout and "--repeats" in out.stdout
    source = SCRIPT.read_text()
    assert "print_load_average()" in source and "getloadavg" not in source


def test_an_unknown_workload_is_refused_with_what_is_allowed():
    out = subprocess.run([sys.executable, str(SCRIPT), "--workloads", "1,4", "--pfl-python", ""], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert "--workloads=1,4 is not allowed: distinct names of 1, 2, 3" in out.stderr


def test_the_exported_step_rows_are_the_examples_fedsims_local_sgd_reads():
    """pfl replays these rows; they must be the batches fedsim's own local update trains on (a
    device of 72 examples: passes of 32, 32, 8, then a new permutation)."""
    import fedsim
    from benchmarks.peers import fedsim_batches, fedsim_overrides
    from fedsim.tasks import build_task
    from fedsim.torch_rng import torch_stream

    config = fedsim.compose(fedsim_overrides(20, 10, 1))
    task = build_task(config)
    device, server_round = 3, 1
    seen = []
    hook = task.scratch_model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    try:
        task.local_update(task.initial_record(), device, server_round, config.op)
    finally:
        hook.remove()
    data = task.device_data(device)
    steps = fedsim_batches(len(data.y), config.op.local_iters, config.train.batch_size,
                           torch_stream(config.seed, "local-training", device, server_round))
    assert [len(rows) for rows in steps] == [32, 32, 8, 32, 32]
    assert len(seen) == len(steps)
    for inputs, rows in zip(seen, steps, strict=True):
        assert (inputs.numpy() == data.x[rows]).all()


@pytest.mark.slow
def test_a_quick_fedsim_only_run_ends_with_one_json_line():
    env = {k: v for k, v in os.environ.items() if k != "FEDSIM_PEERS_PFL_PYTHON"}
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--pfl-python", ""], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("load average at start")
    assert "pfl-research: skipped" in out.stdout and "load average at end" in out.stdout
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["peers"] == ["inprocess", "cohort"] and result["met"] is None and result["torch_threads"] == 1
    (row,) = result["workloads"]
    assert (row["devices"], row["devices_per_round"], row["rounds"]) == (20, 10, 3)
    assert row["fedsim_best_s"] == min(row["inprocess_s"], row["cohort_s"]) > 0
    assert 0.1 < row["inprocess_accuracy"] <= 1 and "pfl_over_fedsim" not in row


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("FEDSIM_PEERS_PFL_PYTHON"), reason="no pfl-research interpreter (FEDSIM_PEERS_PFL_PYTHON)")
def test_pfl_trains_fedsims_federation_to_the_same_accuracy_round_by_round():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--workloads", "2"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (row,) = json.loads(out.stdout.strip().splitlines()[-1])["workloads"]
    assert row["equal_accuracy"] and row["max_round_accuracy_gap"] <= 1 / 359  # one test image at most: float32 summation order
    assert row["pfl_over_fedsim"] == pytest.approx(row["pfl_s"] / row["fedsim_best_s"])
