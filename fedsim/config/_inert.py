"""Settings that do nothing in the chosen configuration: named in one warning line each.

The rule, per key (README, "Keys that do nothing"): a value that differs from its default but
has no effect in this configuration is a one-line warning rather than an error, because a sweep
over several configurations (``-m strategy=fedavg,fedbuff world.deadline_s=2``) legitimately sets
keys that matter to only some of its jobs. Values that contradict the configuration (a device
index beyond the fleet, an access scheme the async world cannot serve) stay errors, in the
sections' own checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

# (section, keys, "in effect" predicate over the RunConfig, what the keys need)
_Rule = tuple[str, tuple[str, ...], Callable[[Any], bool], str]

_HF_KEYS = ("hf_name", "image_key", "label_key", "client_key", "train_split", "test_split")
_RULES: tuple[_Rule, ...] = (
    ("world", ("deadline_s",), lambda c: not c.strategy.asynchronous, "synchronous rounds (the event-driven world of fedasync/fedbuff has no round deadline)"),
    ("availability", ("kind", "on_s", "off_s", "dwell", "trace_path", "wake_fraction"), lambda c: c.strategy.asynchronous,
     "the event-driven world (strategy=fedasync or fedbuff)"),
    ("handover", None, lambda c: c.mobility.kind == "drone_routes", "cellular drones (mobility=drone_routes)"),
    ("cellular", None, lambda c: c.mobility.kind == "drone_routes", "cellular drones (mobility=drone_routes)"),
    ("lm", None, lambda c: c.trains_language_model, "a language model (model=tinylm or tinylm_masks)"),
    ("lm", ("pretrain", "backward"), lambda c: c.model.name != "tinylm_masks", "the adapters' fine-tuning (model=tinylm), not mask learning"),
    ("model", ("target", "kwargs"), lambda c: c.model.name == "custom", "model=custom"),
    ("dataset", _HF_KEYS, lambda c: c.dataset.name == "hf", "dataset=hf"),
    ("dataset", ("channels_last",), lambda c: c.dataset.name == "npz", "dataset=npz"),
    ("dataset", ("max_clients",), lambda c: c.dataset.name in ("femnist", "shakespeare"), "dataset=femnist or shakespeare"),
    ("partition", ("alpha", "min_partition_size"), lambda c: c.partition.kind == "dirichlet", "partition.kind=dirichlet"),
    ("partition", ("shards_per_device",), lambda c: c.partition.kind == "shards", "partition.kind=shards"),
    ("partition", ("classes_per_device",), lambda c: c.partition.kind == "pathological", "partition.kind=pathological"),
    ("train", ("mkor_inv_freq",), lambda c: c.train.optimizer == "mkor", "train.optimizer=mkor"),
    ("faults", ("attack", "attack_scale"), lambda c: c.faults.byzantine_prob > 0, "faults.byzantine_prob > 0"),
    ("access", ("resource_blocks",), lambda c: c.access.scheme == "ofdma" or c.mobility.kind == "drone_routes", "access=ofdma"),
    ("policy", ("csi_error_db",), lambda c: c.policy.csi == "noisy", "policy.csi=noisy"),
    ("policy", ("devices",), lambda c: c.policy.name == "fixed", "policy=fixed"),
    ("policy", ("choice_path", "pick"), lambda c: c.policy.name == "optimized", "policy=optimized"),
    ("policy", ("energy_budget_j",), lambda c: c.policy.name == "joint_power_scheduling", "policy=joint_power_scheduling"),
    ("policy", ("target", "kwargs"), lambda c: c.policy.name == "custom", "policy=custom"),
    ("radio", ("path_loss_target", "path_loss_kwargs"), lambda c: c.radio.path_loss == "custom", "radio.path_loss=custom"),
    ("tracking", ("uri", "experiment"), lambda c: c.tracking.kind != "none", "a tracker (tracking=tensorboard, mlflow or wandb)"),
)


def _defaults(section: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(section):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def inert_settings(config: Any) -> Iterator[tuple[str, Any, str]]:
    """(dotted key, value, what it needs) for each non-default value that does nothing here."""
    for section_name, keys, in_effect, needs in _RULES:
        if in_effect(config):
            continue
        section = getattr(config, section_name)
        defaults = _defaults(section)
        for key in keys or tuple(defaults):
            value = getattr(section, key)
            if key in defaults and value != defaults[key]:
                yield f"{section_name}.{key}", value, needs
