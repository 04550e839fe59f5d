"""``compress_model``: prune, quantize and low-rank-compensate every Linear of a torch model.

Block by block with sequential calibration, as in SparseGPT/Wanda/SLiM: the model's repeated
blocks are the children of its largest ``nn.ModuleList`` (else the model is one block); the
inputs of block k+1 are produced by running the already-compressed block k, so later layers are
calibrated on the activations they will really see.  Inside a block, layers are compressed in
execution order, a group of layers reading the same input tensor (q/k/v) at a time, and the
block is re-run before the next group, so out_proj sees the compressed q/k/v.  Only the current
block's inputs are kept (bounded memory).

Per layer (W: d_out × d_in; s, H: ``LayerStats`` of its input; compression.md):
1. mask: magnitude |W|, Wanda |W|·√s (no weight update), or SparseGPT (OBS updates);
   ``reconstruct=True`` replaces the kept weights by the OPTIMA closed form for that mask.
2. quantize (symmetric, ``group_size`` inputs per bf16 scale, None = one scale per tensor):
   "absmax" RTN, "slim" RTN with the SLiM-Quant clip α (group scales clipped at α), "gptq" OBS
   error feedback that also absorbs the pruning error.  SLiM order: with magnitude/Wanda masks
   and RTN the dense W is quantized first and then masked (W_c = mask ⊙ deq(Q(W))); weights
   updated by SparseGPT or OPTIMA are quantized after the update.  SparseGPT + GPTQ prune and
   quantize jointly (SparseGPT+OPTQ).
3. low rank: "naive" (SVD of W − W_c) or "slim" (activation-weighted, SLiM-LoRA), rank
   ``rank_ratio``·min(d_out, d_in); ``requantize=True`` then re-quantizes mask ⊙ (W − (LR)ᵀ)
   as the SLiM reference does.
The SLiM recipe is ``SLIM_RECIPE`` (2:4, 4-bit, slim quantizer, slim adapters, Wanda mask).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ._atomic import atomic_write
from ._torch_load import load_tensors_only
from .recipe import Recipe as _Recipe, parse_recipe as _parse_recipe
from .calibration import LayerStats
from .lowrank import naive_lora, rank_from_ratio, slim_lora
from .masks import magnitude_score, nm_mask, unstructured_mask, wanda_score
from .modules import CompressedLinear
from .prune import layer_output_error, optimal_reconstruction, sparsegpt_prune
from .quant import QuantSpec, _ColumnQuantizer, _obs_sweep, _prepare_hessian, absmax_clip, quantize, slim_quant_clip

__all__ = ["compress_model", "CompressionReport", "LayerReport", "SLIM_RECIPE", "save_compressed",
           "load_compressed", "find_blocks"]

SLIM_RECIPE: dict[str, Any] = dict(sparsity="2:4", pruner="wanda", bits=4, quantizer="slim", lowrank="slim")

_DAMP = 0.01
_CHECKPOINT = "compressed.pt"


# ----------------------------------------------------------------------------- report
@dataclass
class LayerReport:
    """One compressed layer; errors are tr((W−Ŵ)H(W−Ŵ)ᵀ) with H = XᵀX/tokens of its calibration input."""

    name: str
    shape: tuple[int, int]  # (d_out, d_in)
    sparsity: float  # fraction of pruned positions of the base
    bits_per_weight: float  # base storage (values + indices + scales) per dense weight
    rank: int
    error_before: float  # base only (before adapters)
    error_after: float  # base + adapters
    reference: float  # tr(W H Wᵀ): the output energy, to make errors relative
    bytes_before: int  # float32 weight + bias
    bytes_after: int  # CompressedLinear.nbytes(): packed base + scales + adapters + bias
    seconds: float

    @property
    def rel_error_before(self) -> float:
        return self.error_before / self.reference if self.reference > 0 else 0.0

    @property
    def rel_error_after(self) -> float:
        return self.error_after / self.reference if self.reference > 0 else 0.0


@dataclass
class CompressionReport:
    """What ``compress_model`` did: per-layer rows and byte totals over the compressed layers."""

    layers: list[LayerReport] = field(default_factory=list)
    recipe: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def bytes_before(self) -> int:
        return sum(r.bytes_before for r in self.layers)

    @property
    def bytes_after(self) -> int:
        return sum(r.bytes_after for r in self.layers)

    @property
    def ratio(self) -> float:
        """Compressed bytes / float32 bytes of the compressed layers."""
        return self.bytes_after / self.bytes_before if self.bytes_before else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": {k: v for k, v in self.recipe.items() if k != "layer_filter"},
                "bytes_before": self.bytes_before, "bytes_after": self.bytes_after, "ratio": self.ratio,
                "seconds": self.seconds, "layers": [asdict(r) for r in self.layers]}

    def table(self) -> str:
        """Plain-text table, one row per layer, totals last."""
        head = f"{'layer':<28} {'shape':>11} {'sparsity':>8} {'bits/w':>6} {'rank':>4} {'rel err':>9} {'+adapt':>9}"
        rows = [head, "-" * len(head)]
        for r in self.layers:
            rows.append(f"{r.name[-28:]:<28} {f'{r.shape[0]}x{r.shape[1]}':>11} {r.sparsity:>8.3f} "
                        f"{r.bits_per_weight:>6.3f} {r.rank:>4d} {r.rel_error_before:>9.2e} {r.rel_error_after:>9.2e}")
        rows.append(f"total: {self.bytes_before:,} B fp32 -> {self.bytes_after:,} B ({self.ratio:.3f}x), "
                    f"{self.seconds:.1f} s")
        return "\n".join(rows)


# ----------------------------------------------------------------------------- per layer
class _MaskedColumnQuantizer(_ColumnQuantizer):
    """GPTQ column quantizer that forces pruned entries to code 0 (their error is fed back too)."""

    def __init__(self, spec: QuantSpec, W: Tensor, keep: Tensor) -> None:
        super().__init__(spec, torch.where(keep, W, torch.zeros_like(W)))
        self.keep = keep

    def start_group(self, j: int, cols: Tensor) -> None:
        keep = self.keep[:, j:j + cols.shape[1]]
        super().start_group(j, torch.where(keep, cols, torch.zeros_like(cols)))

    def __call__(self, w: Tensor, j: int) -> Tensor:
        q = super().__call__(w, j)
        keep = self.keep[:, j]
        self.codes[:, j] = torch.where(keep, self.codes[:, j], torch.zeros_like(self.codes[:, j]))
        return torch.where(keep, q, torch.zeros_like(q))


def _spec(bits: int, g: int | None) -> QuantSpec:
    return QuantSpec(bits, granularity="tensor") if g is None else QuantSpec(bits, granularity="group", group_size=g)


def _block_size(g: int | None, m: int | None) -> int:
    """OBS block: a multiple of the quantization group and of M, at least 128 columns."""
    b = math.lcm(g or 1, m or 1)
    return b * math.ceil(128 / b)


def _rtn(W_src: Tensor, keep: Tensor, r: _Recipe, g: int | None, dense_first: bool) -> tuple[Tensor, Tensor]:
    """RTN codes and scales: absmax, or clipped at the SLiM-Quant α of the quantized values."""
    spec = _spec(r.bits, g)
    src = W_src if dense_first else torch.where(keep, W_src, torch.zeros_like(W_src))
    clip = None
    if r.quantizer == "slim":
        alpha = slim_quant_clip(src if dense_first else src[keep], r.bits)
        amax = absmax_clip(src, spec)
        clip = torch.where(amax > 0, torch.clamp(amax, max=alpha), torch.full_like(amax, alpha))
    qt = quantize(src, spec, clip=clip)
    return torch.where(keep, qt.codes, torch.zeros_like(qt.codes)), qt.scale


def _gptq_masked(W_src: Tensor, H: Tensor, keep: Tensor, r: _Recipe, g: int | None) -> tuple[Tensor, Tensor]:
    W64, U = _prepare_hessian(W_src, H, _DAMP)
    quantizer = _MaskedColumnQuantizer(_spec(r.bits, g), W64, keep)
    _obs_sweep(W64, U, _block_size(g, None), quantizer=quantizer)
    qt = quantizer.result(W_src.shape, torch.float32)
    return qt.codes, qt.scale


def _quantize_base(W: Tensor, W_p: Tensor, keep: Tensor, H: Tensor, r: _Recipe, g: int | None,
                   updated: bool) -> tuple[Tensor, Tensor]:
    if r.quantizer == "gptq":
        return _gptq_masked(W_p if updated else W, H, keep, r, g)
    # SLiM order (quantize W, then mask) unless the pruner changed the kept weights.
    return _rtn(W_p if updated else W, keep, r, g, dense_first=not updated)


def _build(codes_or_w: Tensor, scales: Tensor | None, keep: Tensor | None, bias: Tensor | None,
           L: Tensor | None, R: Tensor | None, r: _Recipe) -> CompressedLinear:
    """The layer, on the exact reference path with a cached Ŵ while calibration continues."""
    fmt = "2:4" if r.nm == (2, 4) else "dense"
    if r.bits is None:
        layer = CompressedLinear.from_float(codes_or_w, mask=keep, bias=bias, L=L, R=R, sparse_format=fmt,
                                            path="reference")
    else:
        layer = CompressedLinear.from_codes(codes_or_w, scales, bits=r.bits, mask=keep, bias=bias, L=L, R=R,
                                            sparse_format=fmt, path="reference")
    layer.cache_dense = True
    return layer


def _check_layer(name: str, linear: nn.Linear, r: _Recipe) -> int | None:
    """Shape checks for one layer (run on every layer before any work); returns its group size."""
    d_in = linear.in_features
    g = None if (r.bits is None or r.group_size is None) else min(r.group_size, d_in)
    if g is not None and d_in % g:
        raise ValueError(f"group_size={r.group_size} does not divide d_in={d_in} of layer {name}; expected a "
                         "divisor of every compressed layer's input size, or None")
    if r.nm is not None and d_in % r.nm[1]:
        raise ValueError(f"sparsity={r.nm[0]}:{r.nm[1]} needs d_in divisible by {r.nm[1]}; layer {name} has d_in={d_in}")
    if r.bits == 4 and d_in % 2:
        raise ValueError(f"bits=4 needs an even d_in; layer {name} has d_in={d_in}")
    return g


def _compress_linear(linear: nn.Linear, stats: LayerStats, r: _Recipe, name: str) -> tuple[CompressedLinear, dict]:
    W = linear.weight.detach().to(torch.float32)
    bias = None if linear.bias is None else linear.bias.detach()
    H = stats.H
    g = _check_layer(name, linear, r)
    pruning = r.nm is not None or r.sparsity is not None
    codes = scales = None
    updated = False
    # 1. mask (and SparseGPT's updated weights)
    if not pruning:
        keep = torch.ones_like(W, dtype=torch.bool)
        W_p = W
    elif r.pruner == "sparsegpt":
        if r.bits is not None and r.quantizer == "gptq" and not r.reconstruct:
            W64, U = _prepare_hessian(W, H, _DAMP)
            quantizer = _ColumnQuantizer(_spec(r.bits, g), W64)
            _, pruned = _obs_sweep(W64, U, _block_size(g, r.nm[1] if r.nm else None), quantizer=quantizer,
                                   sparsity=r.sparsity, nm=r.nm)
            keep = ~pruned
            qt = quantizer.result(W.shape, torch.float32)
            codes, scales = qt.codes, qt.scale
            W_p = W
        else:
            kw = dict(sparsity=r.sparsity) if r.nm is None else dict(n=r.nm[0], m=r.nm[1])
            W_p, keep = sparsegpt_prune(W, H, **kw, block_size=_block_size(None, r.nm[1] if r.nm else None), damp=_DAMP)
            updated = True
    else:
        score = magnitude_score(W) if r.pruner == "magnitude" else wanda_score(W, stats.s.to(torch.float32))
        keep = unstructured_mask(score, r.sparsity) if r.nm is None else nm_mask(score, *r.nm)
        W_p = torch.where(keep, W, torch.zeros_like(W))
    if pruning and r.reconstruct:
        W_p = optimal_reconstruction(W, H, keep, damp=_DAMP)
        updated = True
    # 2. quantize
    if r.bits is not None and codes is None:
        codes, scales = _quantize_base(W, W_p, keep, H, r, g, updated)
    mask_arg = keep if pruning else None
    layer = _build(W_p if r.bits is None else codes, scales, mask_arg, bias, None, None, r)
    W_c = layer.dequantized_weight()
    # 3. low-rank compensation of the combined error
    L = R = None
    if r.lowrank != "none":
        rank = rank_from_ratio(W.shape, r.rank_ratio)
        L, R = (slim_lora(W, W_c, stats.s, rank) if r.lowrank == "slim" else naive_lora(W, W_c, rank))
        if r.requantize and r.bits is not None:
            target = torch.where(keep, W - (L @ R).T, torch.zeros_like(W))
            codes, scales = _quantize_base(target, target, keep, H, r, g, True)
        layer = _build(W_p if r.bits is None else codes, scales, mask_arg, bias, L, R, r)
        W_c = layer.dequantized_weight()
    info = dict(
        error_before=layer_output_error(W, W_c, H),
        error_after=layer_output_error(W, layer.effective_weight(), H),
        reference=float(((W.to(torch.float64) @ H) * W.to(torch.float64)).sum()),
        sparsity=1.0 - float(keep.to(torch.float64).mean()),
    )
    return layer, info


# ----------------------------------------------------------------------------- model walking
class _Stop(Exception):
    """Raised by the capture hook to skip the rest of the model."""


def find_blocks(model: nn.Module) -> tuple[str, list[nn.Module]]:
    """The repeated blocks: children of the ``nn.ModuleList`` holding the most ``nn.Linear``
    layers, with its qualified name; ``("", [model])`` when there is none."""
    best, best_count = None, 0
    for name, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList):
            count = sum(isinstance(m, nn.Linear) for m in mod.modules())
            if count > best_count:
                best, best_count = (name, list(mod)), count
    return best if best is not None else ("", [model])


def _as_call(batch: Any) -> tuple[tuple, dict]:
    if isinstance(batch, dict):
        return (), dict(batch)
    if isinstance(batch, (tuple, list)):
        return tuple(batch), {}
    return (batch,), {}


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else out


def _set_module(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, new)


def _capture_inputs(model: nn.Module, block: nn.Module, calls: list[tuple[tuple, dict]]) -> list[tuple[tuple, dict]]:
    """The (args, kwargs) each calibration batch passes to ``block`` (the model is cut there)."""
    captured: list[tuple[tuple, dict]] = []

    def hook(_mod: nn.Module, args: tuple, kwargs: dict) -> None:
        captured.append((args, kwargs))
        raise _Stop

    handle = block.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        for args, kwargs in calls:
            try:
                model(*args, **kwargs)
            except _Stop:
                pass
    finally:
        handle.remove()
    if len(captured) != len(calls):
        raise ValueError(f"calibration_batches: the first block ran for {len(captured)} of {len(calls)} batches; "
                         "expected every forward pass to reach it")
    return captured


def _next_group(block: nn.Module, inputs: list[tuple[tuple, dict]], todo: dict[str, nn.Linear],
                groups: Sequence[int] | None = None) -> tuple[list[str], LayerStats] | None:
    """Run ``block`` once: the first pending layer to execute, the pending layers reading the same
    input tensor, and the statistics of that input.  None when no pending layer runs.

    With ``groups`` (one id per input, e.g. a federated client), each group accumulates its own
    statistics, which are serialized (what a client would send) and merged: sums, so exact."""
    names = {id(m): n for n, m in todo.items()}
    state: dict[str, Any] = {"leader": None, "input": None, "members": [], "batch": 0}
    per_group: dict[int, LayerStats] = {}

    def hook(mod: nn.Module, args: tuple, _out: Any) -> None:
        name, x = names[id(mod)], args[0]
        if state["leader"] is None:
            state.update(leader=name, input=x, members=[name])
        elif state["batch"] == 0 and x is state["input"] and name not in state["members"]:
            state["members"].append(name)
        if name == state["leader"]:
            group = 0 if groups is None else groups[state["batch"]]
            per_group.setdefault(group, LayerStats(with_hessian=True)).update(x.detach())

    handles = [m.register_forward_hook(hook) for m in todo.values()]
    try:
        for b, (args, kwargs) in enumerate(inputs):
            state["batch"] = b
            block(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
        state["input"] = None
    if state["leader"] is None:
        return None
    stats = LayerStats(with_hessian=True)
    for group in sorted(per_group):
        stats.merge(LayerStats.from_state(per_group[group].to_state()))
    return state["members"], stats


# ----------------------------------------------------------------------------- entry point
@torch.no_grad()
def compress_model(
    model: nn.Module,
    calibration_batches: Iterable[Any],
    *,
    sparsity: str | float | None = "2:4",
    pruner: str = "wanda",
    bits: int | None = 4,
    quantizer: str = "absmax",
    group_size: int | None = 128,
    lowrank: str = "none",
    rank_ratio: float = 0.1,
    reconstruct: bool = False,
    requantize: bool = False,
    progress: bool = True,
    layer_filter: Callable[[str, nn.Linear], bool] | None = None,
    calibration_groups: Sequence[int] | None = None,
) -> CompressionReport:
    """Replace the model's Linear layers by ``CompressedLinear`` in place; returns the report.

    Args:
        model: any torch model; it is called as ``model(batch)``, ``model(*batch)`` (tuple/list)
            or ``model(**batch)`` (dict) for each calibration batch.
        calibration_batches: iterable of model inputs (e.g. 128 token windows).
        sparsity: "2:4" (packed 2:4 storage), any "N:M", a fraction of each row to prune, or None.
        pruner: "magnitude", "wanda" or "sparsegpt".
        bits: 4, 8 or None (no quantization; float32 values).
        quantizer: "absmax", "slim" or "gptq".
        group_size: inputs per scale (capped at d_in; must divide it); None = one per tensor.
        lowrank: "none", "naive" or "slim" adapters of rank ``rank_ratio``·min(d_out, d_in).
        reconstruct: OPTIMA closed-form update of the kept weights after the mask is chosen.
        requantize: re-quantize mask ⊙ (W − (LR)ᵀ) after computing adapters (SLiM reference).
        progress: show a tqdm bar over layers.
        calibration_groups: one id per calibration batch (e.g. the federated client that holds
            it): statistics are gathered per group and merged exactly, as a server merges the
            per-layer statistics clients send (federated calibration). Same result as without.
        layer_filter: ``(qualified_name, linear) -> bool`` choosing the layers to compress.  By
            default every Linear inside the blocks (so an LM head or input projection outside the
            block list is kept dense); without a block list, every Linear except the last one
            registered (the output head).  Selected layers outside the blocks are compressed last,
            calibrated by running the whole (already compressed) model.
    """
    r = _parse_recipe(sparsity, pruner, bits, quantizer, group_size, lowrank, rank_ratio, reconstruct, requantize)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model={type(model).__name__} is invalid; expected a torch.nn.Module")
    if layer_filter is not None and not callable(layer_filter):
        raise ValueError(f"layer_filter={layer_filter!r} is invalid; expected a callable (name, module) -> bool or None")
    calls = [_as_call(b) for b in calibration_batches]
    if not calls:
        raise ValueError("calibration_batches is empty; expected at least one model input")
    if calibration_groups is not None:
        calibration_groups = [int(g) for g in calibration_groups]
        if len(calibration_groups) != len(calls):
            raise ValueError(f"calibration_groups has {len(calibration_groups)} ids; expected one per "
                             f"calibration batch ({len(calls)})")

    prefix, blocks = find_blocks(model)
    in_blocks = {id(m) for blk in blocks for m in blk.modules()} if prefix else set()
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if layer_filter is None:
        chosen = ([(n, m) for n, m in linears if id(m) in in_blocks] if prefix else linears[:-1])
    else:
        chosen = [(n, m) for n, m in linears if layer_filter(n, m)]
    if any(n == "" for n, _ in chosen):
        raise ValueError("model is itself an nn.Linear; expected a module containing Linear layers (wrap it)")
    for n, m in chosen:
        _check_layer(n, m, r)
    report = CompressionReport(recipe=dict(sparsity=sparsity, pruner=pruner, bits=bits, quantizer=quantizer,
                                           group_size=group_size, lowrank=lowrank, rank_ratio=rank_ratio,
                                           reconstruct=reconstruct, requantize=requantize))
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(chosen), desc="compress", unit="layer", disable=not progress)
    try:
        if prefix:
            inputs = _capture_inputs(model, blocks[0], calls)
            for block in blocks:
                ids = {id(x) for x in block.modules()}
                todo = {n: m for n, m in chosen if id(m) in ids}
                _compress_block(model, block, inputs, todo, r, report, bar, calibration_groups)
                inputs = [((_first(block(*a, **k)),) + tuple(a[1:]), k) for a, k in inputs]
            del inputs
            rest = {n: m for n, m in chosen if id(m) not in in_blocks}
        else:
            rest = dict(chosen)
        if rest:
            _compress_block(model, model, calls, rest, r, report, bar, calibration_groups)
    finally:
        bar.close()
        model.train(was_training)
        for m in model.modules():  # leave calibration mode: default path, no float32 copies
            if isinstance(m, CompressedLinear) and m.cache_dense:
                m.path, m.cache_dense = "auto", False
                m._dense = None
    report.seconds = time.perf_counter() - start
    return report


def _compress_block(model: nn.Module, block: nn.Module, inputs: list[tuple[tuple, dict]],
                    todo: dict[str, nn.Linear], r: _Recipe, report: CompressionReport, bar: tqdm,
                    groups: Sequence[int] | None = None) -> None:
    """Compress ``todo`` (layers of ``block``) group by group in execution order."""
    todo = dict(todo)
    while todo:
        found = _next_group(block, inputs, todo, groups)
        if found is None:
            break  # pending layers never run on the calibration data: left dense
        members, stats = found
        for name in members:
            t0 = time.perf_counter()
            linear = todo.pop(name)
            layer, info = _compress_linear(linear, stats, r, name)
            _set_module(model, name, layer)
            report.layers.append(LayerReport(
                name=name, shape=(linear.out_features, linear.in_features), sparsity=info["sparsity"],
                bits_per_weight=layer.bits_per_weight, rank=layer.rank, error_before=info["error_before"],
                error_after=info["error_after"], reference=info["reference"],
                bytes_before=4 * (linear.weight.numel() + (0 if linear.bias is None else linear.bias.numel())),
                bytes_after=layer.nbytes(), seconds=time.perf_counter() - t0))
            bar.set_postfix_str(name[-40:], refresh=False)
            bar.update(1)
        del stats


# ----------------------------------------------------------------------------- checkpoints
def save_compressed(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write the model's state and the layout of its ``CompressedLinear`` layers to
    ``path/compressed.pt`` (temp file + rename)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    layout = {n: m.config() for n, m in model.named_modules() if isinstance(m, CompressedLinear)}
    payload = {"layout": layout, "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    return atomic_write(out / _CHECKPOINT, lambda f: torch.save(payload, f))


def load_compressed(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load ``save_compressed`` output into ``model`` (same architecture, e.g. a fresh TinyLM):
    the layers named in the layout are replaced by empty ``CompressedLinear`` and filled."""
    src = Path(path)
    file = src / _CHECKPOINT if src.is_dir() else src
    if not file.is_file():
        raise FileNotFoundError(f"path={str(src)!r} has no {_CHECKPOINT}; expected a save_compressed directory")
    payload = load_tensors_only(file)
    for name, cfg in payload["layout"].items():
        _set_module(model, name, CompressedLinear(**cfg))
    model.load_state_dict(payload["state_dict"])
    return model
