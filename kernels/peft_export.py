"""Export ``CompressedLinear`` adapters in PEFT's LoRA format (what FlowerTune hands out).

``save_peft_adapter(model, dir)`` writes ``adapter_config.json`` and ``adapter_model.safetensors``
so that ``peft.PeftModel.from_pretrained(base, dir)`` loads them onto the dense Hugging Face base.
A ``CompressedLinear`` computes y += (x·L)·R; PEFT computes y += B(A(x))·(lora_alpha / r), so
``lora_A.weight = Lᵀ`` (r × d_in), ``lora_B.weight = Rᵀ`` (d_out × r) and ``lora_alpha = r`` per
layer (scaling 1; layers whose rank differs from the most common one go in ``rank_pattern`` /
``alpha_pattern``). The same holds for SLiM adapters straight out of ``compress_model``.

The adapters were fitted to the *compressed* base: on the dense base they are the right shape and
load, but the model that was trained is the packed base (``save_compressed``) plus these adapters.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import torch
from torch import nn

from ._atomic import atomic_write
from .modules import CompressedLinear

__all__ = ["save_peft_adapter", "ADAPTER_CONFIG", "ADAPTER_WEIGHTS"]

ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"


def _hf_root(model: nn.Module) -> tuple[nn.Module, bool]:
    """The transformers model inside a ``CausalLM`` (module names as in the checkpoint)."""
    inner = getattr(model, "model", None)
    if isinstance(inner, nn.Module) and hasattr(model, "tokenizer"):
        return inner, bool(getattr(model, "fan_in_fan_out", False))
    return model, False


def save_peft_adapter(model: nn.Module, path: str | os.PathLike, *, base_model_name_or_path: str | None = None) -> Path:
    """Write the adapters of every ``CompressedLinear`` with rank > 0 as a PEFT LoRA adapter in ``path``."""
    from safetensors.torch import save as safetensors_bytes

    root, fan_in_fan_out = _hf_root(model)
    layers = {name: m for name, m in root.named_modules() if isinstance(m, CompressedLinear) and m.rank}
    if not layers:
        raise ValueError("model has no CompressedLinear with adapters (rank > 0); nothing to export")
    tensors: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():
        key = f"base_model.model.{name}"
        tensors[f"{key}.lora_A.weight"] = layer.lora_L.detach().T.contiguous().to(torch.float32).cpu()
        tensors[f"{key}.lora_B.weight"] = layer.lora_R.detach().T.contiguous().to(torch.float32).cpu()
    rank = Counter(m.rank for m in layers.values()).most_common(1)[0][0]
    others = {name: m.rank for name, m in layers.items() if m.rank != rank}
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model_name_or_path,
        "r": rank,
        "lora_alpha": rank,  # scaling lora_alpha / r = 1: y += B·A·x exactly as CompressedLinear
        "rank_pattern": others,
        "alpha_pattern": dict(others),
        "target_modules": sorted(layers),
        "lora_dropout": 0.0,
        "bias": "none",
        "fan_in_fan_out": fan_in_fan_out,
        "use_rslora": False,
        "use_dora": False,
        "init_lora_weights": True,
        "inference_mode": True,
        "modules_to_save": None,
    }
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / ADAPTER_WEIGHTS, lambda f: f.write(safetensors_bytes(tensors, metadata={"format": "pt"})))
    atomic_write(out / ADAPTER_CONFIG, lambda f: f.write((json.dumps(config, indent=2) + "\n").encode()))
    return out
