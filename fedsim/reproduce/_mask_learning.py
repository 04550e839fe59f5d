"""Federated mask learning (LEAP and PATCH) against the one-shot Wanda and SparseGPT masks at
equal sparsity, on held-out perplexity, with the uplink bits of the logits priced."""

from __future__ import annotations

from pathlib import Path

from .._run import run
from ..config import RunConfig
from ._closed_loop import merged
from ._fedlora import attach_runs, payload_bits
from ._report import CONSTANT, Check, Report

VARIANTS = {"leap": {"lm": {"mask": "leap"}}, "patch": {"lm": {"mask": "patch"}}}


def reproduce_mask_learning(config: RunConfig, output_dir: Path, *, progress: bool = False) -> Report:
    meta = config.scenario
    results = {name: run(RunConfig.from_mapping(merged(config, overrides)), output_dir / "runs" / name, progress=progress)
               for name, overrides in VARIANTS.items()}
    report = Report(meta.get("name", "fedmask_learnable_lm"), "Federated learning of sparsity masks (LEAP, PATCH)")
    rows, headline = [], {}
    for name, result in results.items():
        masks = result.summary["masks"]
        ppl = [float(r["test_perplexity"]) for r in result.rounds]
        one_shot = masks["one_shot_test_perplexity"]
        density = float(result.rounds[-1]["mask_density"])
        payloads = payload_bits(output_dir / "runs" / name / "devices.csv")
        m = config.op.uplink_bits
        expected = m * masks["logits"] if m == 32 else None
        label = "LEAP, 50% unstructured" if name == "leap" else "PATCH, 2:4"
        report.checks += [
            Check(f"{name}: kept fraction of the hard mask", masks["target_density"], density, 1e-3, absolute=True,
                  note="the compared masks keep the same fraction of every row", kind=CONSTANT),
            Check(f"{name}: the learned mask beats its one-shot Wanda start (held-out perplexity falls)", 1.0,
                  float(ppl[-1] < ppl[0]), 0, absolute=True, note=f"{ppl[0]:.3f} -> {ppl[-1]:.3f}"),
            Check(f"{name}: learned mask vs one-shot Wanda at equal sparsity", 1.0, float(ppl[-1] < one_shot["wanda"]), 0,
                  absolute=True, note=f"learned {ppl[-1]:.3f}, Wanda {one_shot['wanda']:.3f}, SparseGPT {one_shot['sparsegpt']:.3f} "
                                      f"(SparseGPT also updates the kept weights), dense {masks['dense_test_perplexity']:.3f}"),
        ]
        if expected is not None:
            report.checks.append(Check(f"{name}: uplink bits per upload (the logits, float32)", expected, float(max(payloads)), 0,
                                       absolute=True, note=f"{masks['logits']} logits", kind=CONSTANT))
        rows.append(f"| {label} | {masks['dense_test_perplexity']:.3f} | {one_shot['wanda']:.3f} | {one_shot['sparsegpt']:.3f} | "
                    f"{ppl[0]:.3f} | {ppl[-1]:.3f} | {masks['logits']} | {max(payloads):,} | {result.summary['energy_uplink_j']:.4g} |")
        headline[name] = {"learned": ppl[-1], "wanda": one_shot["wanda"], "sparsegpt": one_shot["sparsegpt"]}
    report.sections.append((
        "Held-out perplexity at equal sparsity",
        "| mask | dense | one-shot Wanda | one-shot SparseGPT | learned, round 0 (Wanda init) | learned, last round | "
        "logits | uplink bits per upload | uplink energy [J] |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        + f"\n\n{config.rounds} rounds, {config.op.devices_per_round} of {config.world.num_devices} devices per round, "
        f"{config.op.local_iters} local steps; the server averages the logits (example-weighted).",
    ))
    report.headline = {
        "paper": "learnable masks (LEAP, PATCH) beat one-shot masks at equal sparsity",
        "measured": {k: {kk: round(v, 3) for kk, v in d.items()} for k, d in headline.items()},
        "note": "held-out perplexity of the final hard mask vs the one-shot masks of kernels.compress_model",
    }
    attach_runs(report, results, output_dir)
    return report

