"""train.optimizer: SGD, AdamW or MKOR on devices, and MKOR's factor work priced by the World."""

from __future__ import annotations

import pytest
import torch
from run_helpers import TINY_LM, tiny_overrides

import fedsim
import fedsim_kernels as kernels
from fedsim.tasks import build_task
from fedsim.tasks._optimizer import optimizer_part


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_mkor_trains_a_classifier_and_its_factor_work_is_charged():
    sgd = fedsim.run(tiny_overrides())
    mkor = fedsim.run(tiny_overrides(train={"optimizer": "mkor"}))
    task = build_task(fedsim.RunConfig.from_mapping(tiny_overrides(train={"optimizer": "mkor"})))
    part, bits = task.workload_parts[-1]
    assert len(task.workload_parts) == 2 and bits == 32
    # MLP 64 -> 16 -> 10: both Linear layers preconditioned, bias as an extra input column.
    step = (16 * 16 * 65 + 16 * 65 * 65 + 4 * (65 * 65 + 16 * 16)) + (10 * 10 * 17 + 10 * 17 * 17 + 4 * (17 * 17 + 10 * 10))
    assert part.macs * 3 * task.config.train.batch_size == pytest.approx(step)
    assert mkor.summary["energy_compute_j"] > sgd.summary["energy_compute_j"]
    assert mkor.summary["final_accuracy"] != sgd.summary["final_accuracy"]  # a different trajectory
    task.local_update(task.initial_record(), 0, 1, task.config.op)
    assert _hooks(task.scratch_model) == 0  # the statistics hooks are released after the round


def test_mkor_fine_tunes_lm_adapters_and_perplexity_falls():
    config = fedsim.RunConfig.from_mapping({**TINY_LM, "train": {"batch_size": 4, "optimizer": "mkor"}})
    result = fedsim.run(config)
    ppl = [r["test_perplexity"] for r in result.rounds]
    assert ppl[-1] < ppl[0]
    task = build_task(config)
    adapters = [m for m in task.compressed_model.modules() if isinstance(m, kernels.CompressedLinear) and m.rank]
    part, _ = task.workload_parts[-1]
    optimizer = kernels.MKOR(task.compressed_model, inv_freq=1)
    optimizer.remove_hooks()
    assert len(optimizer._targets) == len(adapters)  # every adapter pair, nothing frozen
    assert part.macs * 3 * 4 == pytest.approx(optimizer.step_macs())
    assert optimizer_part("adamw", task.compressed_model, 4, 1) is None


def test_an_unknown_optimizer_is_a_config_error():
    with pytest.raises(fedsim.ConfigError, match=r"train.optimizer='lamb' is not allowed: one of sgd, adamw, mkor"):
        fedsim.RunConfig.from_mapping(tiny_overrides(train={"optimizer": "lamb"}))
    with pytest.raises(fedsim.ConfigError, match=r"train.mkor_inv_freq=0"):
        fedsim.RunConfig.from_mapping(tiny_overrides(train={"mkor_inv_freq": 0}))
