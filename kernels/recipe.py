"""The compression recipe of ``compress_model``: its vocabulary and its validation, torch-free.

A caller (fedsim's config) can check a recipe before any work, and without importing torch, against
exactly what ``compress_model`` accepts. A bad key raises ``RecipeError`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRUNERS = ("magnitude", "wanda", "sparsegpt")
QUANTIZERS = ("absmax", "slim", "gptq")
LOWRANKS = ("none", "naive", "slim")
WEIGHT_BITS = (4, 8)  # packed integer formats of CompressedLinear (None: float32 values)
# Causal language models whose base fedsim compresses and fine-tunes through adapters.
LANGUAGE_MODELS = ("tinylm",)
# SLoPe (kernels.slope): the input-gradient GEMM through an N:M weight, and how a base is pretrained.
BACKWARDS = ("dense", "double_pruned")  # W itself | the double-pruned transpose (N:M along d_out too)
PRETRAININGS = ("dense", "slope")  # dense AdamW | static N:M masks with the double-pruned backward


class RecipeError(ValueError):
    """A recipe key has a value compress_model does not accept."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is invalid; expected {allowed}")


@dataclass(frozen=True)
class Recipe:
    nm: tuple[int, int] | None
    sparsity: float | None
    pruner: str
    bits: int | None
    quantizer: str
    group_size: int | None
    lowrank: str
    rank_ratio: float
    reconstruct: bool
    requantize: bool


def parse_recipe(sparsity: Any, pruner: Any, bits: Any, quantizer: Any, group_size: Any, lowrank: Any,
                 rank_ratio: Any, reconstruct: Any, requantize: Any) -> Recipe:
    """Validate every key up front: a bad value fails before any work, naming the key."""
    nm, frac = None, None
    if isinstance(sparsity, str):
        try:
            nm = parse_nm(sparsity)
        except RecipeError:
            raise RecipeError("sparsity", sparsity, "'N:M' with 0 < N < M (e.g. '2:4', '4:8'), a float in [0, 1) or None") from None
    elif sparsity is not None:
        if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 <= sparsity < 1.0:
            raise RecipeError("sparsity", sparsity, "'2:4', '4:8', a float in [0, 1) or None")
        frac = float(sparsity) if sparsity > 0 else None
    if pruner not in PRUNERS:
        raise RecipeError("pruner", pruner, f"one of {', '.join(PRUNERS)}")
    if bits not in (*WEIGHT_BITS, None) or isinstance(bits, bool):
        raise RecipeError("bits", bits, f"{' or '.join(map(str, WEIGHT_BITS))}, or None (no quantization)")
    if quantizer not in QUANTIZERS:
        raise RecipeError("quantizer", quantizer, f"one of {', '.join(QUANTIZERS)}")
    if group_size is not None and (isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1):
        raise RecipeError("group_size", group_size, "an int >= 1 or None (one scale per tensor)")
    if lowrank not in LOWRANKS:
        raise RecipeError("lowrank", lowrank, f"one of {', '.join(LOWRANKS)}")
    if isinstance(rank_ratio, bool) or not isinstance(rank_ratio, (int, float)) or not 0.0 < rank_ratio <= 1.0:
        raise RecipeError("rank_ratio", rank_ratio, "a float in (0, 1]")
    for key, v in (("reconstruct", reconstruct), ("requantize", requantize)):
        if not isinstance(v, bool):
            raise RecipeError(key, v, "True or False")
    return Recipe(nm, frac, pruner, bits, quantizer, group_size, lowrank, float(rank_ratio), reconstruct, requantize)


def check_recipe(*, sparsity: Any = "2:4", pruner: Any = "wanda", bits: Any = 4, quantizer: Any = "slim",
                 group_size: Any = 64, lowrank: Any = "slim", rank_ratio: Any = 0.125, reconstruct: Any = False,
                 requantize: Any = False) -> Recipe:
    """``parse_recipe`` with keyword arguments and compress_model's defaults."""
    return parse_recipe(sparsity, pruner, bits, quantizer, group_size, lowrank, rank_ratio, reconstruct, requantize)


def parse_nm(value: Any, key: str = "sparsity") -> tuple[int, int]:
    """``'N:M'`` (a string) or an (N, M) pair, with 0 < N < M; anything else raises ``RecipeError(key)``."""
    if isinstance(value, str):
        try:
            n, m = (int(p) for p in value.split(":"))
        except ValueError:
            n = m = -1
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(type(v) is int for v in value):
        n, m = value
    else:
        n = m = -1
    if not 0 < n < m:
        raise RecipeError(key, value, "'N:M' with 0 < N < M (e.g. '2:4', '4:8')")
    return n, m


def check_slope(*, nm: Any = "2:4", adapter_fraction: Any = 0.01, rank: Any = 1,
                backward: Any = "double_pruned") -> tuple[tuple[int, int], float, int, str]:
    """SLoPe's settings, checked before any work: the N:M pattern, the fraction of the run (the
    last iterations) that trains low-rank adapters, in (0, 1] (1: from the start), the adapter
    rank (>= 1) and the backward (``BACKWARDS``). Returns them normalized."""
    n, m = parse_nm(nm, "nm")
    if isinstance(adapter_fraction, bool) or not isinstance(adapter_fraction, (int, float)) \
            or not 0.0 < adapter_fraction <= 1.0:
        raise RecipeError("adapter_fraction", adapter_fraction, "a float in (0, 1] (the last fraction of the "
                          "iterations that trains adapters; 1 = from the start)")
    if type(rank) is not int or rank < 1:
        raise RecipeError("rank", rank, "an int >= 1")
    if backward not in BACKWARDS:
        raise RecipeError("backward", backward, f"one of {', '.join(BACKWARDS)}")
    return (n, m), float(adapter_fraction), rank, backward
