"""Torch's intra-op threads are chosen per run (fedsim._torch_threads), recorded, and restored."""

from __future__ import annotations

import json

import pytest
import torch

import fedsim
from fedsim._torch_threads import SMALL_STEP_MACS, choose_torch_threads, cpu_share

from run_helpers import tiny_overrides


def test_a_small_step_trains_on_one_thread_a_large_one_on_the_share():
    assert choose_torch_threads(None, step_macs=1.4e6, share=8) == 1  # the digits MLP's step
    assert choose_torch_threads(None, step_macs=SMALL_STEP_MACS, share=8) == 8
    assert choose_torch_threads(None, step_macs=1.6e9, share=2) == 2  # a CIFAR CNN's step
    assert choose_torch_threads(3, step_macs=1.4e6, share=8) == 3  # the key wins


def test_cpu_share_is_capped_by_a_launchers_omp_num_threads():
    import os

    own = cpu_share({})
    assert own == len(os.sched_getaffinity(0))
    assert cpu_share({"OMP_NUM_THREADS": "1"}) == 1  # joblib's worker on 2 cores with 2 jobs
    assert cpu_share({"OMP_NUM_THREADS": str(own + 10)}) == own  # never more than the affinity mask
    assert cpu_share({"OMP_NUM_THREADS": "garbage"}) == own
    assert cpu_share({"OMP_NUM_THREADS": "0"}) == own


@pytest.mark.parametrize(("key", "expected"), [(None, 1), (2, 2)])
def test_the_run_records_its_threads_and_gives_the_callers_back(tmp_path, key, expected):
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        extra = {} if key is None else {"torch_threads": key}
        result = fedsim.run(tiny_overrides(rounds=1, **extra), tmp_path / "run")
        assert result.summary["torch_threads"] == expected
        assert json.loads((tmp_path / "run" / "summary.json").read_text())["torch_threads"] == expected
        assert torch.get_num_threads() == 3  # the caller's setting, restored
    finally:
        torch.set_num_threads(before)


def test_one_thread_and_two_write_the_same_ledger(tmp_path):
    """Small ops are not split across threads, so the choice does not move a ledger."""
    one = fedsim.run(tiny_overrides(torch_threads=1), tmp_path / "one")
    two = fedsim.run(tiny_overrides(torch_threads=2), tmp_path / "two")
    for name in ("rounds.csv", "devices.csv"):
        assert (one.output_dir / name).read_bytes() == (two.output_dir / name).read_bytes()


def test_the_cohort_engine_counts_its_whole_step_and_leaves_a_core_to_its_drawing_thread(tmp_path, monkeypatch):
    """engine=cohort trains the round's clients in one step: 40 digits-MLP clients (40 x 1.4 M
    MACs) are a large step, which gets the process's CPU share less the core that draws the
    cohort's next step; the sequential engine's step is one client's. The key still wins."""
    from fedsim.federation import server_app

    monkeypatch.setattr(server_app, "cpu_share", lambda: 8)
    overrides = {"rounds": 1, "world": {"num_devices": 40}, "op": {"devices_per_round": 40}}
    cohort = fedsim.run({**overrides, "engine": "cohort"}, tmp_path / "cohort")
    sequential = fedsim.run(overrides, tmp_path / "sequential")
    pinned = fedsim.run({**overrides, "engine": "cohort", "torch_threads": 2}, tmp_path / "pinned")
    assert cohort.summary["torch_threads"] == 7
    assert sequential.summary["torch_threads"] == 1
    assert pinned.summary["torch_threads"] == 2
