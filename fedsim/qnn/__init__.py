"""Quantized neural networks: the fixed-point quantizer, quantized layers, models, profiling."""

from ._layers import Precision, QuantConv2d, QuantLinear, QuantModule, set_precision
from ._models import MODELS, QuantMLP, QuantPaperCNN, QuantSmallCNN, build_model
from ._profile import profile_model
from ._quantizer import FULL_PRECISION_BITS, ROUNDING_MODES, grid_step, quantize

__all__ = [
    "FULL_PRECISION_BITS",
    "MODELS",
    "Precision",
    "QuantConv2d",
    "QuantLinear",
    "QuantMLP",
    "QuantModule",
    "QuantPaperCNN",
    "QuantSmallCNN",
    "ROUNDING_MODES",
    "build_model",
    "grid_step",
    "profile_model",
    "quantize",
    "set_precision",
]
