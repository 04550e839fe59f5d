"""What every tracker does, and the guard that keeps a failing tracker from breaking a run."""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from .._warn import warn_once

TRACKING_FILE = "tracking.json"  # in the run directory: which tracker run this run writes to
# tracking.kind -> (module of this package, the package it needs, the extra that installs it)
TRACKERS: dict[str, tuple[str, str, str]] = {
    "tensorboard": ("._tensorboard", "tensorboard", "tracking"),
    "mlflow": ("._mlflow", "mlflow", "tracking"),
    "wandb": ("._wandb", "wandb", "wandb"),  # its own extra: a large client with a service binary
}
ARTIFACT_SUFFIXES = (".png", ".md", ".yaml", ".json", ".csv")


def tracker_module_missing(kind: str) -> tuple[str, str] | None:
    """(the package, the fedsim extra that installs it) when tracker ``kind`` needs a package that
    is not installed; None when it is (or none is needed)."""
    if kind not in TRACKERS:
        return None
    _, package, extra = TRACKERS[kind]
    return None if importlib.util.find_spec(package) is not None else (package, extra)


def scalars(row: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of a ledger row or a summary (booleans as 0/1), by column."""
    out = {}
    for key, value in row.items():
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[key] = float(value)
    return out


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def job_context() -> tuple[str | None, dict[str, str]]:
    """(the sweep directory, the job's overrides) under a Hydra sweep, else (None, the run's
    overrides or {}): a sweep's jobs are one experiment, their overrides its parameters."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode
    except ImportError:  # pragma: no cover - hydra is a dependency
        return None, {}
    if not HydraConfig.initialized():
        return None, {}
    hydra = HydraConfig.get()
    overrides = dict(o.split("=", 1) for o in hydra.overrides.task if "=" in o and not o.lstrip("+~").startswith("hydra"))
    sweep = str(Path(hydra.sweep.dir)) if hydra.mode == RunMode.MULTIRUN else None
    return sweep, overrides


class Tracker(ABC):
    """One tracker run, mirroring one fedsim run."""

    def __init__(self, config: Mapping[str, Any], output_dir: Path | None, *, first_step: int) -> None:
        self.config = config  # the resolved RunConfig as a dict
        self.tracking = config.get("tracking") or {}
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.first_step = first_step  # > 0: a resumed run, steps below it are logged already
        self.sweep, self.overrides = job_context()

    @property
    def run_name(self) -> str:
        """A sweep's job by its overrides (``seed=1,op.train_bits=4``), a single run by its directory."""
        shown = [f"{k}={v}" for k, v in self.overrides.items() if not k.startswith("tracking")]
        if self.sweep and shown:
            return ",".join(shown)
        return str(self.output_dir.name if self.output_dir is not None else "fedsim")

    def params(self) -> dict[str, Any]:
        """What identifies the run among others: its overrides (a sweep's swept keys) and seed."""
        return {"seed": self.config.get("seed"), "strategy": (self.config.get("strategy") or {}).get("name"), **self.overrides}

    # -- the state a resumed run needs ---------------------------------------------------------
    def saved(self) -> dict[str, Any]:
        if self.output_dir is None or not (self.output_dir / TRACKING_FILE).is_file():
            return {}
        try:
            return json.loads((self.output_dir / TRACKING_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def save(self, state: dict[str, Any]) -> None:
        if self.output_dir is not None:
            atomic_write_text(self.output_dir / TRACKING_FILE, json.dumps(state, sort_keys=True))

    def artifacts(self) -> list[Path]:
        """The run directory's files worth keeping beside the metrics."""
        if self.output_dir is None:
            return []
        return sorted(p for p in self.output_dir.iterdir() if p.is_file() and p.suffix in ARTIFACT_SUFFIXES)

    # -- what a tracker implements --------------------------------------------------------------
    @abstractmethod
    def start(self) -> None:
        """Open (or, resumed, reopen) the tracker run and log the configuration."""

    @abstractmethod
    def log_round(self, row: Mapping[str, Any]) -> None:
        """One rounds.csv row, at step = its round."""

    @abstractmethod
    def finish(self, summary: Mapping[str, Any], failed: bool) -> None:
        """summary.json as final metrics, the artifacts, and close the tracker run."""


class Guarded:
    """A tracker whose failures (an unreachable server, a full disk, a bug in a tracking library)
    become one warning line: the tracker stops, the run and its ledger go on."""

    def __init__(self, kind: str, tracker: Tracker) -> None:
        self.kind = kind
        self.tracker: Tracker | None = tracker

    def _call(self, what: str, *args: Any) -> None:
        if self.tracker is None:
            return
        try:
            getattr(self.tracker, what)(*args)
        except Exception as error:  # noqa: BLE001 - tracking must never break a run
            self.tracker = None
            reason = " ".join(str(error).split())[:200]
            warn_once(f"tracking={self.kind} stopped ({what}: {type(error).__name__}: {reason}); the run and its ledger go on")

    def start(self) -> None:
        self._call("start")

    def log_round(self, row: Mapping[str, Any]) -> None:
        if row["round"] >= getattr(self.tracker, "first_step", 0):
            self._call("log_round", row)

    def finish(self, summary: Mapping[str, Any], failed: bool = False) -> None:
        self._call("finish", summary, failed)


def open_tracker(config: Mapping[str, Any], output_dir: Path | None, *, first_step: int = 0) -> Guarded | None:
    """The run's tracker (None for ``tracking=none``), started; ``first_step`` > 0 resumes."""
    kind = (config.get("tracking") or {}).get("kind", "none")
    if kind == "none":
        return None
    module = TRACKERS[kind][0]
    try:
        tracker = importlib.import_module(module, __package__).TRACKER(config, output_dir, first_step=first_step)
    except Exception as error:  # noqa: BLE001 - as any tracker failure: one line, the run goes on
        warn_once(f"tracking={kind} could not start ({type(error).__name__}: {' '.join(str(error).split())[:200]}); the run goes on")
        return None
    guarded = Guarded(kind, tracker)
    guarded.start()
    return guarded
