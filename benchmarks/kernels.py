"""CompressedLinear vs float32 nn.Linear, the bandwidth that bounds both, storage and compress time.

Usage: python benchmarks/kernels.py [--repeats N]

- speedup_<shape>_batch<M>: median float32 ``nn.Linear`` time / median ``CompressedLinear`` time
  on its default "auto" path (under ``torch.inference_mode``) for a 2:4 + 4-bit layer with
  group-128 bf16 scales, measured in this run with 2 torch threads; the variants are timed in
  turn, repeat after repeat, so a busy machine slows them alike.  "auto" picks per shape
  (``backend`` names it): the int4 CPU kernel below ``DENSE_BATCH_ROWS`` rows (on
  ``kernel_threads`` = 1 thread), the bfloat16 GEMM on a cached bf16 Ŵ from there on.  "4096" is
  Linear(4096, 4096); "768x3072" is Linear(768, 3072) (a GPT-2-small MLP up-projection).
  For 4096 the same turns also time the alternatives the choice was made against: batch 1, the
  int4 kernel on 2 threads (``int4_2threads_speedup_4096_batch1``); batch 64, the int4 kernel
  and the float32 GEMM on the cached Ŵ (the previous "auto").
- read_gb_s_dram (2 threads, as the fp32 GEMV runs) / _dram_1thread / _8mib_1thread (1 thread, as
  the int4 kernel runs): float32 read bandwidth (``sum``) of a 256 MiB tensor (DRAM) and of an
  8 MiB one (the size of the packed 4096×4096 int4 weight: cache-resident on a CPU with a larger
  last-level cache); weight_gb_s_*: weight bytes each batch-1 4096 call reads per second, which
  sets them against those bounds; gflop_s_*: batch-64 arithmetic rates.
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
from collections.abc import Callable
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


def _interleaved_medians(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each callable, all timed in turn each repeat after a warm-up."""
    for _ in range(3):
        for f in calls.values():
            f()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for k, f in calls.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def _read_gb_s(nbytes: int, repeats: int, threads: int) -> float:
    """Read bandwidth: bytes of a float32 tensor ``sum`` reads per second on ``threads`` threads
    (median of repeats)."""
    a = torch.ones(nbytes // 4)
    torch.set_num_threads(threads)
    try:
        return nbytes / _interleaved_medians({"sum": a.sum}, repeats)["sum"] / 1e9
    finally:
        torch.set_num_threads(THREADS)


def _speedups(d_in: int, d_out: int, batch: int, repeats: int, alternatives: bool) -> dict:
    """Times of fp32 nn.Linear and the compressed layer's "auto" path (plus, with
    ``alternatives``, the backends it was chosen over), and the fast path's error."""
    dense, comp = _layers(d_in, d_out)
    assert comp.kernel == "int4pack_bf16"
    x = torch.randn(batch, d_in)
    with torch.inference_mode():
        backend = comp.backend(x)
        W = comp.dequantized_weight()
        ref = torch.nn.functional.linear(x, W, comp.bias)
        rel = float((comp(x) - ref).norm() / ref.norm())  # bf16 numerics vs the exact definition
        calls = {"fp32": lambda: dense(x), "auto": lambda: comp(x)}
        if alternatives and backend == "int4pack_bf16":
            calls["int4_2threads"] = lambda: _on_torch_threads(comp, x)
        elif alternatives:
            calls["int4_kernel"] = lambda: comp._kernel_matmul(x, "int4pack_bf16")
            calls["fp32_cached"] = lambda: torch.nn.functional.linear(x, comp._reference_weight(cache=True), comp.bias)
        t = _interleaved_medians(calls, repeats)
        # what the batch-1 kernel reads per call: its packed layout (a 2:4 base expanded to dense
        # int4 codes) and the bf16 scale/zero pairs
        kernel_bytes = sum(v.numel() * v.element_size() for v in comp._kernel_weights() if torch.is_tensor(v))
    return {"times": t, "backend": backend, "rel": rel, "kernel_bytes": kernel_bytes}


def _on_torch_threads(comp: CompressedLinear, x: torch.Tensor) -> torch.Tensor:
    """The layer's forward with its low-bit kernel on torch's thread count instead of one."""
    comp.kernel_threads = None
    try:
        return comp(x)
    finally:
        comp.kernel_threads = 1


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
    result: dict = {"threads": THREADS}
    loads = print_load_average()
    load = loads[0]
    if load > 0.5:
        print(f"note: 1-minute load average {load:.2f} at start; other processes share the cores, "
              "so every ratio below is noisy (each is measured against a baseline timed in the same turns)")
    bw_reps = max(5, args.repeats // 10)
    for name, nbytes, threads in (("dram", 256 * 2**20, THREADS), ("dram_1thread", 256 * 2**20, 1),
                                  ("8mib_1thread", 8 * 2**20, 1)):
        result[f"read_gb_s_{name}"] = round(_read_gb_s(nbytes, bw_reps * (1 if nbytes > 2**24 else 10), threads), 2)
    print(f"read bandwidth: 256 MiB {result['read_gb_s_dram']:.1f} GB/s on {THREADS} threads, "
          f"{result['read_gb_s_dram_1thread']:.1f} GB/s on 1; 8 MiB on 1 thread "
          f"{result['read_gb_s_8mib_1thread']:.1f} GB/s")
    for key, (d_in, d_out) in {"4096": (4096, 4096), "768x3072": (768, 3072)}.items():
        for batch in (1, 64):
            reps = args.repeats if batch == 1 else max(5, args.repeats // 5)
            r = _speedups(d_in, d_out, batch, reps, alternatives=key == "4096")
            t = r["times"]
            result[f"speedup_{key}_batch{batch}"] = round(t["fp32"] / t["auto"], 3)
            result[f"backend_{key}_batch{batch}"] = r["backend"]
            print(f"Linear({d_in}, {d_out}) batch {batch:>2}: fp32 {t['fp32'] * 1e3:7.3f} ms, compressed "
                  f"({r['backend']}) {t['auto'] * 1e3:7.3f} ms, speedup {t['fp32'] / t['auto']:5.2f}x, "
                  f"rel. error vs the dequantized reference {r['rel']:.1e}")
            for name in (k for k in t if k not in ("fp32", "auto")):
                result[f"{name}_speedup_{key}_batch{batch}"] = round(t["fp32"] / t[name], 3)
                print(f"    alternative {name}: {t[name] * 1e3:7.3f} ms, {t['fp32'] / t[name]:5.2f}x fp32")
            if key == "4096":
                result[f"fp32_ms_4096_batch{batch}"] = round(t["fp32"] * 1e3, 3)
                result[f"int4_ms_4096_batch{batch}"] = round(t["auto"] * 1e3, 3)
                if batch == 1:  # weight bytes read per second: against the bandwidths above
                    fp32_bytes, int4_bytes = 4 * d_in * d_out, r["kernel_bytes"]
                    result["weight_gb_s_fp32_batch1"] = round(fp32_bytes / t["fp32"] / 1e9, 2)
                    result["weight_gb_s_int4_batch1"] = round(int4_bytes / t["auto"] / 1e9, 2)
                    print(f"    weights read per second: fp32 {fp32_bytes / t['fp32'] / 1e9:.1f} GB/s "
                          f"({fp32_bytes / 2**20:.0f} MiB), compressed {int4_bytes / t['auto'] / 1e9:.1f} GB/s "
                          f"({int4_bytes / 2**20:.1f} MiB; bytes ratio bound {fp32_bytes / int4_bytes:.1f}x)")
                else:
                    flop = 2 * batch * d_in * d_out
                    result["gflop_s_fp32_batch64"] = round(flop / t["fp32"] / 1e9, 1)
                    result["gflop_s_auto_batch64"] = round(flop / t["auto"] / 1e9, 1)
                    print(f"    arithmetic: fp32 {flop / t['fp32'] / 1e9:.0f} GFLOP/s, "
                          f"compressed {flop / t['auto'] / 1e9:.0f} GFLOP/s")
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
