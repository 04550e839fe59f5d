"""fedsim_kernels (the kernels/ folder): sparse-quant compression primitives (pure PyTorch, CPU; never imports fedsim).

Calibration statistics, pruning scores and masks, quantization (RTN, SLiM-Quant, GPTQ),
Hessian-aware pruning (SparseGPT, OPTIMA), low-rank compensation (SLiM-LoRA) and packed storage
formats; learnable masks (LEAP, PATCH), MKOR; SLoPe sparse pretraining (double-pruned backward,
lazy low-rank adapters); Hugging Face checkpoints in and PEFT adapters out.
Conventions: W is (d_out, d_in), y = x·Wᵀ, calibration inputs X are (tokens, d_in).

Names load on first use (PEP 562): ``import fedsim_kernels.recipe`` validates a recipe without torch.
"""

from __future__ import annotations

import importlib

if __name__ == "kernels":
    # Imported by its folder's name, because a checkout's root is on sys.path (``python`` run
    # there). That name belongs to the Hugging Face Hub's package, which transformers imports:
    # load that one in this module's place, so the folder can never shadow it.
    import importlib.machinery
    import importlib.util
    import os
    import sys

    _root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    _path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _root]
    _spec = importlib.machinery.PathFinder.find_spec("kernels", _path)
    if _spec is None or _spec.loader is None:
        raise ModuleNotFoundError(
            "No module named 'kernels' (fedsim's kernels/ folder imports as fedsim_kernels)", name="kernels"
        )
    _hub = importlib.util.module_from_spec(_spec)
    sys.modules["kernels"] = _hub
    _spec.loader.exec_module(_hub)

_EXPORTS = {
    "LayerStats": "calibration",
    "naive_lora": "lowrank",
    "quantize_adapter": "lowrank",
    "rank_from_ratio": "lowrank",
    "refactorize": "lowrank",
    "slim_lora": "lowrank",
    "double_pruned_mask": "masks",
    "magnitude_score": "masks",
    "mask_density": "masks",
    "nm_mask": "masks",
    "tile_hybrid_mask": "masks",
    "unstructured_mask": "masks",
    "wanda_score": "masks",
    "bits_per_weight": "packing",
    "pack_2to4": "packing",
    "pack_int4": "packing",
    "packed_nbytes": "packing",
    "unpack_2to4": "packing",
    "unpack_int4": "packing",
    "layer_output_error": "prune",
    "optimal_reconstruction": "prune",
    "sparsegpt_prune": "prune",
    "QuantizedTensor": "quant",
    "QuantSpec": "quant",
    "absmax_clip": "quant",
    "dequantize": "quant",
    "gptq_quantize": "quant",
    "mse_optimal_clip_bruteforce": "quant",
    "quantize": "quant",
    "slim_quant_clip": "quant",
    "PATTERNS_24": "learnable",
    "Gumbel24Mask": "learnable",
    "GumbelSigmoidMask": "learnable",
    "MaskedLinear": "learnable",
    "exponential_schedule": "learnable",
    "linear_schedule": "learnable",
    "MKOR": "mkor",
    "sherman_morrison_update": "mkor",
    "CompressedLinear": "modules",
    "SLIM_RECIPE": "pipeline",
    "CompressionReport": "pipeline",
    "LayerReport": "pipeline",
    "compress_model": "pipeline",
    "find_blocks": "pipeline",
    "load_compressed": "pipeline",
    "load_tensors_only": "_torch_load",
    "save_compressed": "pipeline",
    "CausalLM": "hf",
    "CheckpointError": "hf",
    "HF_MODEL_TYPES": "hf",
    "checkpoint_model_type": "hf",
    "load_causal_lm": "hf",
    "save_peft_adapter": "peft_export",
    "CORPUS_FILE": "tinylm",
    "TinyLM": "tinylm",
    "TinyLMConfig": "tinylm",
    "generate_corpus": "tinylm",
    "load_corpus": "tinylm",
    "load_pretrained": "tinylm",
    "perplexity": "tinylm",
    "sample_text": "tinylm",
    "train_tiny_lm": "tinylm",
    "unigram_perplexity": "tinylm",
    "LANGUAGE_MODELS": "recipe",
    "PRUNERS": "recipe",
    "QUANTIZERS": "recipe",
    "LOWRANKS": "recipe",
    "WEIGHT_BITS": "recipe",
    "RecipeError": "recipe",
    "check_recipe": "recipe",
    "BACKWARDS": "recipe",
    "PRETRAININGS": "recipe",
    "check_slope": "recipe",
    "parse_nm": "recipe",
    "DoublePrunedCompressedLinear": "slope",
    "SLoPeLinear": "slope",
    "SLoPeRun": "slope",
    "SLoPeTrainer": "slope",
    "StepMACs": "slope",
    "adapter_macs": "slope",
    "add_lazy_adapters": "slope",
    "double_pruned_backward_mask": "slope",
    "export_linears": "slope",
    "lazy_adapter_start": "slope",
    "linear_macs": "slope",
    "slope_linear": "slope",
    "sparsify_linears": "slope",
    "train_slope_lm": "slope",
    "use_double_pruned_backward": "slope",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # cache: the next lookup does not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
