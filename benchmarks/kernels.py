"""CompressedLinear fast path vs float32 nn.Linear, storage ratio, and one-layer compression time.

Usage: python benchmarks/kernels.py [--repeats N]

- speedup_<shape>_batch<M>: median float32 ``nn.Linear`` time / median ``CompressedLinear`` time
  on its default "auto" path for a 2:4 + 4-bit layer with group-128 bf16 scales, measured in this
  run with 2 torch threads; the two are timed alternately so a busy machine slows both alike.
  "auto" picks per shape: the int4 CPU kernel (bf16 activations) below
  ``DENSE_BATCH_ROWS`` rows, the float32 GEMM on a cached dequantized Ŵ from there on.  "4096" is Linear(4096, 4096); "768x3072" is Linear(768, 3072)
  (in_features 768, out_features 3072: a GPT-2-small MLP up-projection).
- bytes_ratio: CompressedLinear.nbytes() / float32 bytes for 4096×4096 at 2:4 + 4-bit, group 128
  (packed values + 2-bit indices + bf16 scales; no bias, no adapters).
- compress_s_sparsegpt / compress_s_optimal: seconds to prune one Linear(768, 3072) to 2:4 with
  SparseGPT, and to apply the OPTIMA closed-form reconstruction for the Wanda 2:4 mask (default
  method "auto": batched float32 CG through the shared Hessian, refined in float64), from a
  Hessian of LLM-like random activations (a few outlier channels, correlated features);
  compress_s_optimal_direct is the per-row Cholesky solve of the same problem, the baseline, and
  optimal_rel_diff the relative difference of the two reconstructions.
Prints ratios, never asserts wall-clock times; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import load_average, print_load_average  # noqa: E402

from fedsim_kernels.calibration import LayerStats  # noqa: E402
from fedsim_kernels.masks import nm_mask, wanda_score  # noqa: E402
from fedsim_kernels.modules import CompressedLinear  # noqa: E402
from fedsim_kernels.prune import optimal_reconstruction, sparsegpt_prune  # noqa: E402

THREADS = 2


def _layers(d_in: int, d_out: int, seed: int = 0, bias: bool = True) -> tuple[nn.Linear, CompressedLinear]:
    torch.manual_seed(seed)
    dense = nn.Linear(d_in, d_out, bias=bias)
    with torch.no_grad():
        dense.weight.normal_(0, 0.02)
    mask = nm_mask(dense.weight.detach().abs(), 2, 4)
    return dense, CompressedLinear.from_linear(dense, bits=4, group_size=128, mask=mask)


def _paired_median(f_ref, f_new, repeats: int) -> tuple[float, float]:
    """Median seconds of two callables timed alternately after a warm-up."""
    for _ in range(5):
        f_ref()
        f_new()
    a, b = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        f_ref()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        f_new()
        b.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def _speedup(d_in: int, d_out: int, batch: int, repeats: int) -> tuple[float, float, float]:
    dense, comp = _layers(d_in, d_out)
    assert comp.kernel == "int4pack_bf16"
    x = torch.randn(batch, d_in)
    with torch.inference_mode():
        comp.path = "reference"
        ref = comp(x)
        comp.path = "fast"
        rel = float((comp(x) - ref).norm() / ref.norm())  # bf16 activations vs the exact definition
        comp.path = "auto"
        t_ref, t_new = _paired_median(lambda: dense(x), lambda: comp(x), repeats)
    return t_ref / t_new, t_ref, rel, "int4 kernel" if comp._use_fast(x) else "fp32 on cached W"


def _llm_like_hessian(d_in: int, tokens: int = 4096, seed: int = 0) -> torch.Tensor:
    """H = XᵀX/N of correlated activations with a few large outlier channels."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(64, d_in, generator=g) / 8
    X = torch.randn(tokens, 64, generator=g) @ mix + torch.randn(tokens, d_in, generator=g)
    outliers = torch.randperm(d_in, generator=g)[:6]
    X[:, outliers] *= 25.0
    return LayerStats(with_hessian=True).update(X).H


def _compress_seconds(d_in: int, d_out: int, repeats: int = 3) -> tuple[float, float, float, float]:
    """Medians over ``repeats`` of SparseGPT, OPTIMA (auto) and OPTIMA (direct) seconds."""
    torch.manual_seed(1)
    W = torch.randn(d_out, d_in) * 0.02
    H = _llm_like_hessian(d_in)
    mask = nm_mask(wanda_score(W, torch.diagonal(H)), 2, 4)
    times: dict[str, list[float]] = {"sparsegpt": [], "auto": [], "direct": []}
    for _ in range(repeats):
        t = time.perf_counter()
        sparsegpt_prune(W, H, n=2, m=4)
        times["sparsegpt"].append(time.perf_counter() - t)
        t = time.perf_counter()
        fast = optimal_reconstruction(W, H, mask)
        times["auto"].append(time.perf_counter() - t)
    t = time.perf_counter()
    exact = optimal_reconstruction(W, H, mask, method="direct")  # once: it is the slow one
    times["direct"].append(time.perf_counter() - t)
    rel = float((fast - exact).norm() / exact.norm())
    return (*(statistics.median(times[k]) for k in ("sparsegpt", "auto", "direct")), rel)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per batch-1 case (batch 64: /5)")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error(f"--repeats={args.repeats} is too small; expected >= 5")
    torch.set_num_threads(THREADS)
    result: dict = {}
    loads = print_load_average()
    load = loads[0]
    if load > 0.5:
        print(f"note: 1-minute load average {load:.2f} at start; other processes share the cores, "
              "which slows the 2-thread int4 kernel most (its threads wait for each other)")
    for key, (d_in, d_out) in {"4096": (4096, 4096), "768x3072": (768, 3072)}.items():
        for batch in (1, 64):
            reps = args.repeats if batch == 1 else max(5, args.repeats // 5)
            speedup, t_ref, rel, path = _speedup(d_in, d_out, batch, reps)
            result[f"speedup_{key}_batch{batch}"] = round(speedup, 3)
            print(f"Linear({d_in}, {d_out}) batch {batch:>2}: fp32 {t_ref * 1e3:7.3f} ms, "
                  f"compressed ({path}) {t_ref / speedup * 1e3:7.3f} ms, speedup {speedup:5.2f}x, "
                  f"int4 kernel vs reference path rel. error {rel:.1e}")
    dense, comp = _layers(4096, 4096, bias=False)  # compare weights only
    dense_bytes = dense.weight.numel() * 4
    result["bytes_ratio"] = round(comp.nbytes() / dense_bytes, 4)
    result["bytes_ratio_format"] = "2:4+int4, group 128 bf16 scales"
    print(f"4096x4096 2:4+int4: {comp.nbytes():,} B vs fp32 {dense_bytes:,} B ({comp.bits_per_weight:.3f} bits/weight)")
    t_sgpt, t_opt, t_direct, rel = _compress_seconds(768, 3072)
    result["compress_s_sparsegpt"] = round(t_sgpt, 3)
    result["compress_s_optimal"] = round(t_opt, 3)
    result["compress_s_optimal_direct"] = round(t_direct, 3)
    result["optimal_rel_diff"] = float(f"{rel:.2e}")
    result["loadavg_1min_at_start"] = round(load, 2)
    result["loadavg_1min_at_end"] = round(load_average()[0], 2)
    print(f"Linear(768, 3072) 2:4: SparseGPT {t_sgpt:.2f} s, OPTIMA reconstruction {t_opt:.2f} s "
          f"(per-row Cholesky {t_direct:.2f} s: {t_direct / t_opt:.1f}x; rel. difference {rel:.1e})")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
