"""Hugging Face checkpoints in (tiny random Llama / Qwen2 / GPT-2, offline) and PEFT adapters out."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

import fedsim_kernels as kernels

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hf_checkpoints import tiny_hf_checkpoint  # noqa: E402

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

TEXT = "the quick brown fox jumps over the lazy dog while the cat sleeps by the warm fire. " * 12


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {family: tiny_hf_checkpoint(root / family, family) for family in ("llama", "qwen2", "gpt2")}


def _batches(lm, count=4, length=48):
    ids = lm.encode(TEXT)
    return [ids[i * length:(i + 1) * length].unsqueeze(0) for i in range(count)]


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2"])
def test_a_checkpoint_loads_as_transformers_loads_it(checkpoints, family):
    lm = kernels.load_causal_lm(checkpoints[family])
    reference = transformers.AutoModelForCausalLM.from_pretrained(checkpoints[family]).eval()
    ids = lm.encode("hello, world")
    assert ids.tolist() == [b + 3 for b in b"hello, world"]  # ByT5: bytes offset by 3 specials
    with torch.no_grad():
        torch.testing.assert_close(lm(ids[None]), reference(input_ids=ids[None]).logits, rtol=1e-5, atol=1e-5)
    assert (lm.d_model, lm.n_layers, lm.vocab_size) == (64, 2, 384)
    assert lm.fan_in_fan_out == (family == "gpt2")  # GPT-2's Conv1D became nn.Linear


@pytest.mark.parametrize("family, per_block", [("llama", {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}),
                                               ("gpt2", {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"})])
def test_compress_model_finds_every_projection_of_the_decoder_blocks(checkpoints, family, per_block):
    lm = kernels.load_causal_lm(checkpoints[family])
    report = kernels.compress_model(lm, _batches(lm), sparsity="2:4", bits=4, quantizer="slim", group_size=32,
                                    lowrank="slim", rank_ratio=0.125, progress=False)
    names = [r.name for r in report.layers]
    assert len(names) == 2 * len(per_block)  # both blocks, every projection, not the LM head
    assert all(any(n.endswith(p) for n in names if f".{block}." in n) for block in (0, 1) for p in per_block)
    assert not isinstance(lm.model.lm_head, kernels.CompressedLinear)
    assert all(r.rel_error_after < r.rel_error_before for r in report.layers)  # SLiM adapters compensate


def _peft_on_compressed_base(checkpoint, lm, adapter_dir):
    """PEFT onto the dense base whose compressed projections carry the dequantized weights."""
    base = transformers.AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    for name, layer in lm.model.named_modules():
        if isinstance(layer, kernels.CompressedLinear):
            target = base.get_submodule(name)
            w = layer.dequantized_weight()
            target.weight.data.copy_(w.T if lm.fan_in_fan_out else w)  # Conv1D stores W transposed
            layer.path = "reference"
    return peft.PeftModel.from_pretrained(base, adapter_dir).eval()


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_slim_adapters_export_to_peft_and_reproduce_the_compressed_model(checkpoints, family, tmp_path):
    lm = kernels.load_causal_lm(checkpoints[family])
    kernels.compress_model(lm, _batches(lm), sparsity="2:4", bits=4, quantizer="slim", group_size=32, lowrank="slim",
                           rank_ratio=0.125, progress=False)
    out = kernels.save_peft_adapter(lm, tmp_path / "adapter", base_model_name_or_path=str(checkpoints[family]))
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["fan_in_fan_out"] == (family == "gpt2")
    model = _peft_on_compressed_base(checkpoints[family], lm, out)
    ids = lm.encode(TEXT)[:40][None]
    with torch.no_grad():
        ours = lm(ids)
        theirs = model(input_ids=ids).logits
    torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-4)
    with model.disable_adapter(), torch.no_grad():
        assert (model(input_ids=ids).logits - ours).abs().max() > 1e-3  # the adapters matter
    # The dense base loads them too (what a FlowerTune user does); the adapters are the same tensors.
    dense = peft.PeftModel.from_pretrained(transformers.AutoModelForCausalLM.from_pretrained(checkpoints[family]), out)
    loaded = {n: p for n, p in dense.named_parameters() if "lora_" in n}
    layer = lm.model.get_submodule("model.layers.0.self_attn.q_proj" if family == "llama" else "transformer.h.0.attn.c_attn")
    key = next(n for n in loaded if (".0.self_attn.q_proj." in n or ".h.0.attn.c_attn." in n) and "lora_A" in n)
    torch.testing.assert_close(loaded[key], layer.lora_L.detach().T)


def _write(path: Path, files: dict[str, bytes]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (path / name).write_bytes(data)
    return path


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _corrupt(kind: str, good: Path, tmp: Path) -> Path:
    files = {p.name: p.read_bytes() for p in good.iterdir()}
    if kind == "missing":
        return tmp / "nowhere"
    if kind == "empty":
        return _write(tmp / "empty", {})
    if kind == "not_json":
        return _write(tmp / kind, {**files, "config.json": b"{\"model_type\": \"llama\", "})
    if kind == "no_config":
        return _write(tmp / kind, {k: v for k, v in files.items() if k != "config.json"})
    if kind == "model_type":
        return _write(tmp / kind, {**files, "config.json": json.dumps({"model_type": "bert"}).encode()})
    if kind == "garbage_weights":
        return _write(tmp / kind, {**files, "model.safetensors": b"\x00garbage, not safetensors" * 10})
    if kind == "no_weights":
        return _write(tmp / kind, {k: v for k, v in files.items() if k != "model.safetensors"})
    if kind in ("wrong_names", "wrong_shape"):
        from safetensors.torch import load_file, save_file
        state = load_file(str(good / "model.safetensors"))
        if kind == "wrong_names":
            state["model.layers.0.self_attn.query.weight"] = state.pop("model.layers.0.self_attn.q_proj.weight")
        else:
            state["model.norm.weight"] = torch.ones(65)
        out = _write(tmp / kind, {k: v for k, v in files.items() if k != "model.safetensors"})
        save_file(state, str(out / "model.safetensors"))
        return out
    if kind == "pickle":
        out = _write(tmp / kind, {k: v for k, v in files.items() if k != "model.safetensors"})
        torch.save({"model.embed_tokens.weight": _Evil()}, out / "pytorch_model.bin")
        return out
    if kind == "missing_shard":  # a partial download of a sharded checkpoint
        index = {"metadata": {}, "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                                                "lm_head.weight": "model-00002-of-00002.safetensors"}}
        out = _write(tmp / kind, {k: v for k, v in files.items() if k != "model.safetensors"})
        (out / "model.safetensors.index.json").write_text(json.dumps(index))
        (out / "model-00001-of-00002.safetensors").write_bytes(files["model.safetensors"])
        return out
    if kind == "no_tokenizer":
        return _write(tmp / kind, {k: v for k, v in files.items() if not k.startswith(("tokenizer", "added", "special"))})
    raise AssertionError(kind)


CORRUPT = {
    "missing": "does not exist",
    "empty": "is empty",
    "not_json": "config.json is not valid JSON",
    "no_config": "has no config.json",
    "model_type": "model_type='bert'",
    "garbage_weights": "model.safetensors is not a valid safetensors file",
    "no_weights": "has no weights",
    "wrong_names": "missing model.layers.0.self_attn.q_proj.weight; unexpected model.layers.0.self_attn.query.weight",
    "wrong_shape": "tensor model.norm.weight has shape (65,)",
    "pickle": "cannot be loaded with weights_only=True",
    "missing_shard": "model.safetensors.index.json names missing shard model-00002-of-00002.safetensors",
    "no_tokenizer": "has no tokenizer files",
}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_a_bad_checkpoint_is_a_one_line_error(checkpoints, tmp_path, kind):
    path = _corrupt(kind, checkpoints["llama"], tmp_path)
    with pytest.raises(kernels.CheckpointError) as caught:
        kernels.load_causal_lm(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert CORRUPT[kind] in message


def test_a_pytorch_model_bin_of_plain_tensors_loads_with_weights_only(checkpoints, tmp_path):
    from safetensors.torch import load_file

    good = checkpoints["llama"]
    files = {p.name: p.read_bytes() for p in good.iterdir() if p.name != "model.safetensors"}
    out = _write(tmp_path / "bin", files)
    torch.save(load_file(str(good / "model.safetensors")), out / "pytorch_model.bin")
    ids = torch.arange(3, 40)[None]
    with torch.no_grad():
        torch.testing.assert_close(kernels.load_causal_lm(out)(ids), kernels.load_causal_lm(good)(ids))
