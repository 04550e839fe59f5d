"""Helpers for tests that run fedsim end to end (imported by name: keep this file name unique)."""

from __future__ import annotations


def tiny_overrides(**extra) -> dict:
    """A run small enough for unit tests: 6 devices, 3 per round, 2 rounds, a narrow MLP."""
    config = {
        "rounds": 2,
        "op": {"train_bits": 8, "uplink_bits": 8, "local_iters": 2, "devices_per_round": 3},
        "model": {"name": "mlp", "hidden": [16]},
        "world": {"num_devices": 6},
    }
    for key, value in extra.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    return config


def reproduced_report(overrides: list[str], output_dir, figures: tuple[str, ...] = ()) -> dict:
    """Run ``fedsim reproduce`` in process on compose overrides; assert every check passed and
    the figures exist; return report.json."""
    import json
    from pathlib import Path

    import fedsim
    from fedsim.reproduce import reproduce

    report = reproduce(fedsim.compose(overrides), Path(output_dir))
    assert report.passed, [c for c in report.checks if not c.passed]
    for figure in figures:
        assert (Path(output_dir) / figure).is_file(), figure
    return json.loads((Path(output_dir) / "report.json").read_text())


# A compressed TinyLM run small enough for unit tests (model=tinylm: adapters of a 2:4 + 4-bit base).
TINY_LM = {
    "model": {"name": "tinylm", "hidden": []},
    "rounds": 3,
    "world": {"num_devices": 4},
    "op": {"train_bits": 32, "uplink_bits": 32, "local_iters": 4, "devices_per_round": 2},
    "train": {"batch_size": 4},
    "lm": {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "context": 32, "pretrain_steps": 40,
           "corpus_chars": 30_000, "group_size": 32, "rank_ratio": 0.25, "calibration_batches": 4},
}


# A small synchronous run and the sha256 of its ledger as main's code wrote it before the lean
# sequential engine (issue 14) and the event-driven world (issue 17): neither may move a byte.
# Re-pinned when the workload's backward MACs became measured (FlopCounterMode: the MLP's first
# layer computes no input gradient, 25,856 backward MACs instead of 2 x 17,024): compute energy
# and time moved, nothing else; with backward_macs=None the old hashes (rounds.csv 348b5829...,
# devices.csv 3bb52127...) come back byte for byte. Re-pinned when devices.csv wrote a mains-powered
# device's battery_j empty instead of 1.7976931348623157e+308 (the largest float; issue 32): that
# column alone changed (devices.csv was f89b2b97...), rounds.csv did not.
PINNED_SYNC_OVERRIDES = ["rounds=2", "world.num_devices=10", "op.devices_per_round=4", "train.rounding=stochastic"]
PINNED_SYNC_LEDGER = {
    "rounds.csv": "daabb992831cbb775b7a4643120725805876f5b95debbcee2f31d21ea79989c9",
    "devices.csv": "22f9370d20a832321318eceb98f75c804ffef5607bdf72c6ae60c20b1e00ef13",
}


def ledger_sha256(run_dir) -> dict[str, str]:
    """sha256 of a run directory's rounds.csv and devices.csv."""
    import hashlib
    from pathlib import Path

    return {name: hashlib.sha256((Path(run_dir) / name).read_bytes()).hexdigest() for name in PINNED_SYNC_LEDGER}
