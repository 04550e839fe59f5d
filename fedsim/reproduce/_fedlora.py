"""The compressed-LLM comparison: dense-base LoRA, compressed base with SLiM adapters, and the
compressed base with zero-initialised LoRA (no compensation), trained under the same radio."""

from __future__ import annotations

import csv
from pathlib import Path

from analysis import plot_path

from .._run import run
from ..config import RunConfig
from ._closed_loop import merged
from ._report import CONSTANT, Check, Report

VARIANTS = {
    "compressed_slim": {"lm": {"compress": True, "lowrank": "slim"}},
    "compressed_no_compensation": {"lm": {"compress": True, "lowrank": "none"}},
    "dense_lora": {"lm": {"compress": False}},
}


def reproduce_fedlora(config: RunConfig, output_dir: Path, *, progress: bool = False) -> Report:
    meta = config.scenario
    results = {}
    for name, overrides in VARIANTS.items():
        variant = RunConfig.from_mapping(merged(config, overrides))
        results[name] = run(variant, output_dir / "runs" / name, progress=progress)
    slim, plain = results["compressed_slim"], results["compressed_no_compensation"]

    def ppl(result, index: int) -> float:
        return float(result.rounds[index]["test_perplexity"])

    lm = slim.summary["lm"]
    payloads = payload_bits(output_dir / "runs" / "compressed_slim" / "devices.csv")
    m = config.op.uplink_bits
    # m-bit codes plus one float32 scale per adapter tensor (none at 32 bits), as the codec packs them.
    expected_payload = m * lm["adapter_params"] if m == 32 else 8 * ((m * lm["adapter_params"] + 7) // 8) + 32 * lm["adapter_tensors"]
    report = Report(meta.get("name", "fedlora_compressed_lm"), "Federated fine-tuning of a compressed language model")
    report.checks = [
        Check("compressed linear bytes / float32", [0.0, meta.get("expected", {}).get("base_bytes_ratio_at_most", 0.35)],
              lm["bytes_ratio"], 0, absolute=True),
        Check("test perplexity falls over rounds (compressed + SLiM)", 1.0, float(ppl(slim, -1) < ppl(slim, 0)), 0, absolute=True,
              note=f"{ppl(slim, 0):.3f} -> {ppl(slim, -1):.3f}"),
        Check("only adapter bits go up (bits per upload)", expected_payload, float(max(payloads)), 0, absolute=True,
              note=f"{lm['adapter_params']} adapter parameters; every upload of the run has this size" if len(set(payloads)) == 1 else "uploads differ in size",
              kind=CONSTANT),
        Check("compressed + SLiM adapters beat no compensation (final perplexity)", 1.0,
              float(ppl(slim, -1) < ppl(plain, -1)), 0, absolute=True,
              note=f"SLiM {ppl(slim, -1):.3f} vs zero-initialised LoRA {ppl(plain, -1):.3f} after {config.rounds} rounds"),
    ]
    rows = "\n".join(
        f"| {name} | {ppl(r, 0):.3f} | {ppl(r, -1):.3f} | {r.summary['total_energy_j']:.4g} | "
        f"{r.summary['lm']['compressed_linear_bytes']} | {r.summary['lm']['bytes_ratio']:.3f} |"
        for name, r in results.items()
    )
    report.sections.append((
        "Perplexity and energy",
        "| configuration | perplexity, round 0 | perplexity, last round | energy [J] | linear-layer bytes | bytes / float32 |\n"
        "|---|---|---|---|---|---|\n" + rows
        + f"\n\nDense base before fine-tuning: perplexity {lm['dense_test_perplexity']:.3f}. "
        f"Estimated peak memory of a device's step: {lm['memory_bytes'] / 2**20:.1f} MiB.",
    ))
    attach_runs(report, results, output_dir)
    return report


def attach_runs(report: Report, results: dict, output_dir: Path) -> None:
    """The figures of the runs under ``output_dir/runs`` and each run's summary and perplexity curve."""
    figures = plot_path(output_dir / "runs")
    report.figures = [str(Path(f).relative_to(output_dir)) for f in figures if Path(f).suffix == ".png"]
    report.data = {name: {"summary": r.summary, "perplexity": [row["test_perplexity"] for row in r.rounds]} for name, r in results.items()}


def payload_bits(devices_csv: Path) -> list[int]:
    """Bits of every delivered upload of a run (devices.csv)."""
    with open(devices_csv) as handle:
        return [int(row["payload_bits"]) for row in csv.DictReader(handle) if row["payload_bits"]]

