"""Quantized neural networks: the fixed-point quantizer, quantized layers, models, profiling."""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "Precision": "._layers",
    "QuantConv1d": "._layers",
    "QuantConv2d": "._layers",
    "QuantLinear": "._layers",
    "QuantModule": "._layers",
    "quantize_layers": "._layers",
    "set_precision": "._layers",
    "unquantized_layers": "._layers",
    "MODELS": "._names",
    "TOKEN_MODELS": "._names",
    "QuantCharLSTM": "._models",
    "QuantCifarCNN": "._models",
    "QuantMLP": "._models",
    "QuantPaperCNN": "._models",
    "QuantResNet": "._models",
    "QuantSmallCNN": "._models",
    "build_custom_model": "._custom",
    "build_model": "._models",
    "profile_model": "._profile",
    "FULL_PRECISION_BITS": "._names",
    "ROUNDING_MODES": "._names",
    "grid_step": "._quantizer",
    "quantize": "._quantizer",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
