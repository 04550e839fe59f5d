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
