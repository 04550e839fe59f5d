"""Synthetic fedsim run / sweep directories for the analysis tests."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import yaml

ROUNDS_HEADER = [
    "round", "sim_time_s", "energy_compute_j", "energy_uplink_j", "energy_round_j",
    "energy_cum_j", "test_accuracy", "test_loss", "selected", "delivered",
]


def write_run(
    run_dir: Path,
    *,
    train_bits: int = 32,
    uplink_bits: int = 32,
    local_iters: int = 5,
    devices_per_round: int = 10,
    seed: int = 0,
    n_rounds: int = 20,
    target: float | None = 0.8,
    eval_every: int = 1,
    write_config: bool = True,
    extra_config: dict | None = None,
) -> Path:
    """Write a plausible run directory: accuracy saturates faster/higher with
    more bits, energy per round scales with the bit widths."""
    run_dir.mkdir(parents=True, exist_ok=True)
    e_comp = 0.02 * train_bits * local_iters * devices_per_round
    e_up = 0.05 * uplink_bits * devices_per_round
    ceiling = 0.95 - 0.4 / train_bits - 0.3 / uplink_bits
    tau = 2.0 + 40.0 / train_bits
    rows, cum, t = [], 0.0, 0.0
    rounds_to_target = energy_to_target = None
    for r in range(n_rounds + 1):
        if r == 0:
            ec = eu = 0.0
        else:
            ec, eu = e_comp, e_up
            t += 1.5
        cum += ec + eu
        evaluated = r % eval_every == 0 or r == n_rounds
        acc = ceiling * (1.0 - math.exp(-r / tau)) + 0.1 * math.exp(-r / tau)
        if evaluated and target is not None and rounds_to_target is None and acc >= target:
            rounds_to_target, energy_to_target = r, cum
        rows.append([
            r, t, ec, eu, ec + eu, cum,
            f"{acc:.6f}" if evaluated else "",
            f"{2.3 * (1 - acc):.6f}" if evaluated else "",
            0 if r == 0 else devices_per_round,
            0 if r == 0 else devices_per_round - 1,
        ])
    with (run_dir / "rounds.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ROUNDS_HEADER)
        w.writerows(rows)
    (run_dir / "devices.csv").write_text("round,device,energy_j\n1,0,0.5\n")
    final_acc = float(rows[-1][6])
    summary = {
        "final_accuracy": final_acc,
        "total_energy_j": cum,
        "rounds": n_rounds,
        "sim_time_s": t,
        "target_accuracy": target,
        "rounds_to_target": rounds_to_target,
        "energy_to_target_j": energy_to_target,
        "seed": seed,
        "op": {
            "train_bits": train_bits,
            "uplink_bits": uplink_bits,
            "local_iters": local_iters,
            "devices_per_round": devices_per_round,
        },
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    if write_config:
        cfg = {
            "seed": seed,
            "rounds": n_rounds,
            "output_dir": str(run_dir),
            "dataset": {"name": "mnist", "root": "/data/mnist"},
            "model": {"name": "cnn"},
            "op": dict(summary["op"]),
            "channel": {"bandwidth_hz": 1.0e6, "noise_dbm": -100.0},
            "hydra": {"job": {"num": int(run_dir.name) if run_dir.name.isdigit() else 0}},
        }
        if extra_config:
            cfg.update(extra_config)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return run_dir


def write_sweep(root: Path, ops: list[dict], nested: bool = False) -> list[Path]:
    """A multirun dir with job folders 0/, 1/, ... (under a date folder if nested)."""
    base = root / "2024-05-01" / "12-00-00" if nested else root
    base.mkdir(parents=True, exist_ok=True)
    (base / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    return [write_run(base / str(i), **op) for i, op in enumerate(ops)]


@pytest.fixture
def make_run():
    return write_run


@pytest.fixture
def make_sweep():
    return write_sweep


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert len(data) > 1000, f"{path} is suspiciously small"
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"


def assert_no_temp_files(directory: Path) -> None:
    leftovers = [p.name for p in directory.rglob("*") if p.name.startswith(".") and ".tmp" in p.name
                 or p.suffix == ".tmp"]
    assert leftovers == []


@pytest.fixture
def png_ok():
    return assert_png


@pytest.fixture
def no_temp_files():
    return assert_no_temp_files
