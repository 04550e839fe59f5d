"""The compressed-LLM task: adapters only on the air, aggregation, perplexity over rounds."""

import numpy as np
import pytest
import torch
from run_helpers import TINY_LM

import fedsim
from fedsim.tasks import build_task
from fedsim.federation._job import _task_from_json


def _config(**lm):
    data = {**TINY_LM, "lm": {**TINY_LM["lm"], **lm}}
    return fedsim.RunConfig.from_mapping(data)


def test_a_run_uploads_only_adapters_and_perplexity_falls(tmp_path):
    result = fedsim.run(_config(), tmp_path)
    lm = result.summary["lm"]
    assert lm["bytes_ratio"] <= 0.35  # 2:4 + 4-bit base of the linear layers vs float32
    assert {d["payload_bits"] for d in result.devices} == {32 * lm["adapter_params"]}
    ppl = [r["test_perplexity"] for r in result.rounds]
    assert ppl[-1] < ppl[0]
    assert all(r["aggregation_error"] >= 0 for r in result.rounds[1:])
    assert all(d["memory_bytes"] > 0 for d in result.devices)


def test_eight_bit_adapters_go_through_the_uplink_codec(tmp_path):
    config = fedsim.RunConfig.from_mapping({**TINY_LM, "rounds": 1, "op": {**TINY_LM["op"], "uplink_bits": 8}})
    result = fedsim.run(config)
    lm = result.summary["lm"]
    assert {d["payload_bits"] for d in result.devices} == {8 * lm["adapter_params"] + 32 * lm["adapter_tensors"]}


def test_svd_aggregation_is_never_worse_than_averaging_factors():
    task = build_task(_config(aggregation="svd"))
    record = task.initial_record()
    rng = np.random.default_rng(0)
    for trial in range(5):
        updates = [[rng.normal(scale=0.05 * (1 + trial), size=s).astype(np.float32) for s in task.update_shapes] for _ in range(3)]
        weights = [1.0, 2.0, 3.0]
        new_record, info = task.aggregate(record, updates, weights)
        w = np.asarray(weights) / sum(weights)
        start = [record[k].numpy() for k in task.update_keys]
        for li, ri in task.adapter_pairs():
            locals_ = [(s_l + u[li], s_r + u[ri]) for u, s_l, s_r in zip(updates, [start[li]] * 3, [start[ri]] * 3)]
            exact = sum(wk * (L.astype(np.float64) @ R.astype(np.float64)) for wk, (L, R) in zip(w, locals_))
            avg_l = sum(wk * L for wk, (L, _) in zip(w, locals_))
            avg_r = sum(wk * R for wk, (_, R) in zip(w, locals_))
            factor_error = np.linalg.norm(avg_l.astype(np.float64) @ avg_r - exact)
            svd = new_record[task.update_keys[li]].numpy().astype(np.float64) @ new_record[task.update_keys[ri]].numpy()
            assert np.linalg.norm(svd - exact) <= factor_error * (1 + 1e-5) + 1e-9
        assert info["error"] > 0  # the factor average is inexact: mean(L)·mean(R) != mean(L·R)


def test_without_compensation_adapters_start_at_zero_effect():
    task = build_task(_config(lowrank="none"))
    for layer in task.compressed_model.modules():
        if hasattr(layer, "lora_R") and layer.lora_R is not None:
            assert torch.count_nonzero(layer.lora_R) == 0
    trainable = [n for n, p in task.compressed_model.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(("lora_L", "lora_R")) for n in trainable)


def test_lm_runs_reject_quantized_adapter_training():
    with pytest.raises(fedsim.ConfigError, match="op.train_bits=8"):
        fedsim.RunConfig.from_mapping({**TINY_LM, "op": {**TINY_LM["op"], "train_bits": 8}})


def test_federated_calibration_gives_the_centralized_compressed_model():
    import copy

    import fedsim_kernels as kernels

    task = build_task(_config(calibration="federated"))
    batches, groups = task.calibration_data("federated")
    assert sorted(set(groups)) == list(range(4))
    central = copy.deepcopy(task.dense_model)
    lm = task.config.lm
    kernels.compress_model(central, batches, sparsity=lm.sparsity, pruner=lm.pruner, bits=lm.bits, quantizer=lm.quantizer,
                           group_size=lm.group_size, lowrank=lm.lowrank, rank_ratio=lm.rank_ratio, progress=False)
    federated = task.compressed_model
    layers = [(a, b) for a, b in zip(central.modules(), federated.modules()) if isinstance(a, kernels.CompressedLinear)]
    assert layers
    for a, b in layers:
        assert torch.equal(a.keep_mask(), b.keep_mask())  # same masks
        assert torch.equal(a.lora_L, b.lora_L) and torch.equal(a.lora_R, b.lora_R)  # same adapters


def test_the_base_loads_from_a_local_checkpoint_directory(tmp_path):
    import fedsim_kernels as kernels

    arch = kernels.TinyLMConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, context=32)
    saved = kernels.train_tiny_lm(arch, kernels.generate_corpus(3, 20_000), steps=20, seed=3)
    saved.save_pretrained(tmp_path / "base")
    task = build_task(_config(checkpoint=str(tmp_path / "base")))
    for (name, a), (_, b) in zip(saved.state_dict().items(), task.dense_model.state_dict().items()):
        assert torch.equal(a, b), name
    result = fedsim.run(_config(checkpoint=str(tmp_path / "base")))
    assert result.summary["rounds"] == 3 and np.isfinite(result.rounds[-1]["test_perplexity"])


def test_same_seed_same_ledger_whether_the_base_is_trained_or_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDSIM_CACHE_DIR", str(tmp_path / "fresh-cache"))
    config = fedsim.RunConfig.from_mapping({**TINY_LM, "rounds": 2})
    fedsim.run(config, tmp_path / "trained")  # trains the base and caches it on disk
    _task_from_json.cache_clear()  # forget the in-process task: the next run rebuilds it
    fedsim.run(config, tmp_path / "cached")  # loads the base from the disk cache
    assert any((tmp_path / "fresh-cache" / "tinylm").iterdir())
    for name in ("rounds.csv", "devices.csv"):
        assert (tmp_path / "trained" / name).read_bytes() == (tmp_path / "cached" / name).read_bytes()


def test_a_corrupt_cached_base_is_named_and_trained_again(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEDSIM_CACHE_DIR", str(tmp_path / "cache"))
    config = fedsim.RunConfig.from_mapping({**TINY_LM, "lm": {**TINY_LM["lm"], "pretrain_steps": 5}})
    trained = build_task(config).dense_model.state_dict()
    (cache,) = (tmp_path / "cache" / "tinylm").iterdir()
    weights = next(p for p in cache.iterdir() if p.name != "config.json")
    weights.write_bytes(b"torn by a crash")
    rebuilt = build_task(config).dense_model.state_dict()
    assert f"the cached TinyLM base at {cache} is unreadable" in capsys.readouterr().err
    assert all(torch.equal(trained[k], rebuilt[k]) for k in trained)  # the same seed trains the same base
    assert [p.name for p in (tmp_path / "cache" / "tinylm").iterdir()] == [cache.name]  # replaced whole, no staging left
    build_task(config).dense_model  # and the rebuilt cache loads
    assert "unreadable" not in capsys.readouterr().err


def test_no_pretraining_is_the_seeded_initial_base_and_nothing_is_cached(tmp_path, monkeypatch):
    """lm.pretrain_steps=0 (validated as allowed) is an untrained base, not a crash in the trainer."""
    monkeypatch.setenv("FEDSIM_CACHE_DIR", str(tmp_path / "cache"))
    config = fedsim.RunConfig.from_mapping({**TINY_LM, "lm": {**TINY_LM["lm"], "pretrain_steps": 0}})
    first, again = build_task(config).dense_model.state_dict(), build_task(config).dense_model.state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)  # seeded
    assert not (tmp_path / "cache").exists()


def _hf_checkpoint(path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hf_checkpoints import tiny_hf_checkpoint

    return tiny_hf_checkpoint(path, "llama")


HF_LM = {"corpus_chars": 30_000, "context": 32, "group_size": 32, "rank_ratio": 0.25, "calibration_batches": 4, "lr": 1e-2}


def test_a_hugging_face_llama_fine_tunes_and_its_adapters_load_with_peft(tmp_path):
    peft = pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    import fedsim_kernels as kernels

    checkpoint = _hf_checkpoint(tmp_path / "llama")
    config = fedsim.RunConfig.from_mapping({**TINY_LM, "lm": {**HF_LM, "checkpoint": str(checkpoint)}})
    result = fedsim.run(config, tmp_path / "run")
    ppl = [r["test_perplexity"] for r in result.rounds]
    assert ppl[-1] < ppl[0] < 2 * 384  # a random 384-token model starts near uniform; it learns
    lm = result.summary["lm"]
    assert lm["bytes_ratio"] <= 0.35 and {d["payload_bits"] for d in result.devices} == {32 * lm["adapter_params"]}
    assert result.summary["artifacts"] == ["peft_adapter", "compressed_base"]
    # The final global adapters, in PEFT format, load onto the dense base ...
    base = transformers.AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    model = peft.PeftModel.from_pretrained(base, tmp_path / "run" / "peft_adapter").eval()
    final = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    loaded = dict(model.named_parameters())
    key = "base_model.model.model.layers.1.mlp.down_proj.lora_B.default.weight"
    torch.testing.assert_close(loaded[key], final["model.model.layers.1.mlp.down_proj.lora_R"].T)
    # ... and with the packed base beside them (kernels) they are exactly the federated model.
    task = build_task(config)
    compressed = kernels.load_compressed(kernels.load_causal_lm(checkpoint), tmp_path / "run" / "compressed_base")
    for name, layer in compressed.model.named_modules():
        if isinstance(layer, kernels.CompressedLinear):
            base.get_submodule(name).weight.data.copy_(layer.dequantized_weight())
            layer.path = "reference"
    ids = task.test_text[:32][None]
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, compressed(ids), rtol=1e-4, atol=1e-4)
    ppl_final = task._text_metrics(compressed, task.test_text)["perplexity"]
    assert ppl_final == pytest.approx(ppl[-1], rel=1e-3)


def test_a_bad_hugging_face_checkpoint_is_a_config_error_before_any_work(tmp_path):
    checkpoint = _hf_checkpoint(tmp_path / "llama")
    (checkpoint / "model.safetensors").write_bytes(b"not a safetensors file")
    config = fedsim.RunConfig.from_mapping({**TINY_LM, "lm": {**HF_LM, "checkpoint": str(checkpoint)}})
    with pytest.raises(fedsim.ConfigError, match=r"lm.checkpoint=.* model.safetensors is not a valid safetensors file"):
        fedsim.run(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    config = fedsim.RunConfig.from_mapping({**TINY_LM, "lm": {**HF_LM, "checkpoint": str(tmp_path / "absent")}})
    with pytest.raises(fedsim.ConfigError, match=r"lm.checkpoint=.*does not exist"):
        fedsim.run(config)
