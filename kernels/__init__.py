"""kernels: sparse-quant compression primitives (pure PyTorch, CPU; never imports fedsim).

Calibration statistics, pruning scores and masks, quantization (RTN, SLiM-Quant, GPTQ),
Hessian-aware pruning (SparseGPT, OPTIMA), low-rank compensation (SLiM-LoRA) and packed storage
formats.  Conventions: W is (d_out, d_in), y = x·Wᵀ, calibration inputs X are (tokens, d_in).
"""

from .calibration import LayerStats
from .lowrank import naive_lora, quantize_adapter, rank_from_ratio, refactorize, slim_lora
from .masks import (
    double_pruned_mask,
    magnitude_score,
    mask_density,
    nm_mask,
    tile_hybrid_mask,
    unstructured_mask,
    wanda_score,
)
from .packing import bits_per_weight, pack_2to4, pack_int4, packed_nbytes, unpack_2to4, unpack_int4
from .prune import layer_output_error, optimal_reconstruction, sparsegpt_prune
from .quant import (
    QuantizedTensor,
    QuantSpec,
    absmax_clip,
    dequantize,
    gptq_quantize,
    mse_optimal_clip_bruteforce,
    quantize,
    slim_quant_clip,
)

from .learnable import (
    PATTERNS_24,
    Gumbel24Mask,
    GumbelSigmoidMask,
    MaskedLinear,
    exponential_schedule,
    linear_schedule,
)
from .mkor import MKOR, sherman_morrison_update
from .modules import CompressedLinear
from .pipeline import (
    SLIM_RECIPE,
    CompressionReport,
    LayerReport,
    compress_model,
    find_blocks,
    load_compressed,
    save_compressed,
)
from .tinylm import (
    CORPUS_FILE,
    TinyLM,
    TinyLMConfig,
    generate_corpus,
    load_corpus,
    load_pretrained,
    perplexity,
    sample_text,
    train_tiny_lm,
    unigram_perplexity,
)

__all__ = [
    # calibration
    "LayerStats",
    # masks
    "magnitude_score",
    "wanda_score",
    "unstructured_mask",
    "nm_mask",
    "double_pruned_mask",
    "tile_hybrid_mask",
    "mask_density",
    # quant
    "QuantSpec",
    "QuantizedTensor",
    "quantize",
    "dequantize",
    "absmax_clip",
    "slim_quant_clip",
    "mse_optimal_clip_bruteforce",
    "gptq_quantize",
    # prune
    "sparsegpt_prune",
    "optimal_reconstruction",
    "layer_output_error",
    # lowrank
    "slim_lora",
    "naive_lora",
    "quantize_adapter",
    "refactorize",
    "rank_from_ratio",
    # packing
    "pack_int4",
    "unpack_int4",
    "pack_2to4",
    "unpack_2to4",
    "bits_per_weight",
    "packed_nbytes",
    # mkor
    "MKOR",
    "sherman_morrison_update",
    # learnable masks
    "GumbelSigmoidMask",
    "Gumbel24Mask",
    "PATTERNS_24",
    "MaskedLinear",
    "linear_schedule",
    "exponential_schedule",
    # tiny causal LM
    "TinyLMConfig",
    "TinyLM",
    "load_pretrained",
    "generate_corpus",
    "load_corpus",
    "CORPUS_FILE",
    "train_tiny_lm",
    "perplexity",
    "unigram_perplexity",
    "sample_text",
    # compressed layers and the model pipeline
    "CompressedLinear",
    "compress_model",
    "CompressionReport",
    "LayerReport",
    "SLIM_RECIPE",
    "find_blocks",
    "save_compressed",
    "load_compressed",
]
