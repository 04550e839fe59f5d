"""model=tinylm_masks: devices learn LEAP / PATCH mask logits, the server averages them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from run_helpers import TINY_LM

import fedsim
import fedsim_kernels as kernels
from fedsim.tasks import build_task

MASKS = {**TINY_LM, "rounds": 2, "model": {"name": "tinylm_masks", "hidden": []},
         "op": {**TINY_LM["op"], "local_iters": 10}, "train": {"batch_size": 8},
         "lm": {**TINY_LM["lm"], "pretrain_steps": 150}}


def _config(**lm):
    return fedsim.RunConfig.from_mapping({**MASKS, "lm": {**MASKS["lm"], **lm}})


def test_leap_logits_start_at_wanda_and_learning_lowers_the_held_out_perplexity():
    config = _config(mask="leap")
    task = build_task(config)
    record = task.initial_record()
    masks = task.hard_masks(record)
    for name, keep in masks.items():  # round 0 is the one-shot Wanda mask, 50% of every row
        assert torch.equal(keep.sum(1), torch.full((keep.shape[0],), keep.shape[1] // 2))
        wanda = kernels.unstructured_mask(task._wanda_scores[name], 0.5)
        assert torch.equal(keep, wanda)
    result = fedsim.run(config)
    ppl = [r["test_perplexity"] for r in result.rounds]
    assert ppl[-1] < ppl[0]
    assert {r["mask_density"] for r in result.rounds} == {0.5}
    assert {d["payload_bits"] for d in result.devices} == {32 * result.summary["masks"]["logits"]}
    assert result.summary["masks"]["logits"] == sum(m.numel() for m in masks.values())  # one logit per weight
    one_shot = result.summary["masks"]["one_shot_test_perplexity"]
    assert set(one_shot) == {"wanda", "sparsegpt"} and all(np.isfinite(v) for v in one_shot.values())


def test_patch_masks_stay_exactly_two_of_four_and_the_server_averages_logits():
    task = build_task(_config(mask="patch"))
    record = task.initial_record()
    for keep in task.hard_masks(record).values():
        assert torch.equal(keep.reshape(keep.shape[0], -1, 4).sum(-1), torch.full((keep.shape[0], keep.shape[1] // 4), 2))
    rng = np.random.default_rng(0)
    updates = [[rng.normal(size=s).astype(np.float32) for s in task.update_shapes] for _ in range(2)]
    new, _ = task.aggregate(record, updates, [1.0, 3.0])
    key = task.update_keys[0]
    expected = record[key].numpy() + 0.25 * updates[0][0] + 0.75 * updates[1][0]
    np.testing.assert_allclose(new[key].numpy(), expected, rtol=1e-5, atol=1e-6)  # example-weighted mean of the logits
    assert all(k.endswith("pattern_logits") for k in task.update_keys)


def test_bad_mask_keys_are_config_errors():
    with pytest.raises(fedsim.ConfigError, match=r"lm.mask='topk' is not allowed: one of leap, patch"):
        _config(mask="topk")
    with pytest.raises(fedsim.ConfigError, match=r"lm.mask_density=1.0"):
        _config(mask_density=1.0)
