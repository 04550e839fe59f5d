"""A learning task: what the federation learns, independent of Flower and of the physics.

The ServerApp, the ClientApp and the strategy only talk to a Task: the global state it starts
from, a device's local update, the server's evaluation and how updates are aggregated, plus the
compute workload the World prices. fedsim ships a quantized classifier (``ClassifierTask``) and
adapters of a compressed language model (``AdapterLMTask``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from flwr.app import ArrayRecord

from ..config import OperatingPoint, RunConfig
from ..ledger import Column
from ..workload import Workload
from ._aggregate import weighted_average
from ._client_side import PLAIN, ClientSide
from ._records import apply_update, record_to_numpy


@dataclass
class LocalResult:
    """A device's contribution to a round."""

    update: list[np.ndarray]  # Δ of the federated state entries, in ``Task.update_keys`` order
    num_examples: int
    train_loss: float
    metrics: dict[str, float] = field(default_factory=dict)  # extra per-device numbers for the ledger
    # SCAFFOLD: the mean of the raw (uncorrected) local gradients, in ``update_keys`` order
    mean_gradient: list[np.ndarray] | None = None


# devices.csv column of ``faults.byzantine_prob > 0`` runs (the ClientApp's reply metric of that name).
BYZANTINE_COLUMN = Column("byzantine", "1: the device uploaded an attacked update (faults.attack) this round")


class Task(ABC):
    """One learning task; built once per process from a RunConfig (see ``task_for``)."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    def prepare(self) -> None:
        """Load and check what the task needs, so a bad input fails before any file is written."""
        self.initial_record()

    @property
    def upload_params(self) -> int:
        """Values a device uploads per round (the model, or only the adapters): the d of the theory."""
        return int(sum(int(np.prod(shape)) for shape in self.update_shapes))

    # -- the federated state ------------------------------------------------------------------
    @abstractmethod
    def initial_record(self) -> ArrayRecord:
        """The global state at round 0 (seeded)."""

    @property
    @abstractmethod
    def update_keys(self) -> list[str]:
        """State entries that devices update and upload, in upload order."""

    def update_arrays(self, record: ArrayRecord) -> list[np.ndarray]:
        """The update entries of a state, as numpy arrays in upload order."""
        return record_to_numpy(record, self.update_keys)

    @cached_property
    def update_shapes(self) -> list[tuple[int, ...]]:
        record = self.initial_record()
        return [tuple(record[k].shape) for k in self.update_keys]

    # -- learning -----------------------------------------------------------------------------
    @abstractmethod
    def num_examples(self, device: int) -> int: ...

    @abstractmethod
    def local_update(self, record: ArrayRecord, device: int, server_round: int, op: OperatingPoint, client: ClientSide = PLAIN) -> LocalResult:
        """Train on ``device``'s data from the global ``record`` as the operating point says, with
        the strategy's client side (``client``)."""

    def local_updates(self, record: ArrayRecord, devices: Sequence[int], server_round: int, op: OperatingPoint, client: ClientSide = PLAIN) -> list[LocalResult]:
        """``local_update`` of each device (the cohort engine's call): one at a time unless the
        task trains a cohort together."""
        return [self.local_update(record, device, server_round, op, client) for device in devices]

    def cohort_unsupported(self) -> str | None:
        """Why this task's devices cannot train together as a cohort (None: they can)."""
        return f"the {type(self).__name__} trains one device at a time"

    @abstractmethod
    def evaluate(self, record: ArrayRecord, op: OperatingPoint) -> dict[str, float]:
        """Server-side test metrics of a global state: at least ``loss`` and ``accuracy``."""

    @abstractmethod
    def evaluate_device(self, record: ArrayRecord, device: int, op: OperatingPoint) -> dict[str, float]: ...

    def aggregate(
        self, record: ArrayRecord, updates: Sequence[Sequence[np.ndarray]], weights: Sequence[float]
    ) -> tuple[ArrayRecord, dict[str, Any]]:
        """FedAvg: the example-weighted average of the decoded updates added to the global state."""
        return apply_update(record, self.update_keys, weighted_average(updates, weights)), {}

    # -- the task's own ledger columns --------------------------------------------------------
    round_columns: tuple[Column, ...] = ()  # appended to rounds.csv

    @property
    def device_columns(self) -> tuple[Column, ...]:
        """Appended to devices.csv. By default the fault model's (``fault_columns``); a task that
        declares its own columns adds ``self.fault_columns`` to keep them."""
        return self.fault_columns

    def round_extras(self, metrics: dict[str, float], aggregation: dict[str, Any] | None) -> dict[str, Any]:
        """Values of ``round_columns`` from the server's evaluation and the aggregation's info
        (None for round 0, the initial model)."""
        return {}

    def device_extras(self, reply_metrics: dict[str, Any]) -> dict[str, Any]:
        """Values of ``device_columns`` from a device's reply metrics (empty: no reply)."""
        return self.fault_extras(reply_metrics)

    @property
    def fault_columns(self) -> tuple[Column, ...]:
        """``byzantine`` when ``faults.byzantine_prob > 0`` (none otherwise: default ledgers keep
        their bytes)."""
        return (BYZANTINE_COLUMN,) if self.config.faults.byzantine_prob > 0 else ()

    def fault_extras(self, reply_metrics: dict[str, Any]) -> dict[str, Any]:
        """Values of ``fault_columns``: 1 when the device uploaded an attacked update, 0 when an
        honest one, empty when it sent no reply."""
        if not self.fault_columns:
            return {}
        flag = reply_metrics.get(BYZANTINE_COLUMN.name)
        return {BYZANTINE_COLUMN.name: None if flag is None else int(flag)}

    def summary_extra(self) -> dict[str, Any]:
        """Task-specific numbers for summary.json (e.g. the compressed model's bytes)."""
        return {}

    def write_artifacts(self, record: ArrayRecord, output_dir: Any) -> list[str]:
        """Write task-specific outputs of the final global state into the run directory (e.g. a
        PEFT adapter); returns the written paths relative to it."""
        return []

    # -- what the World prices ----------------------------------------------------------------
    @property
    @abstractmethod
    def workload_parts(self) -> list[tuple[Workload, int | None]]:
        """Compute per sample as (workload, precision); None means the round's training bits."""

    @property
    def workload(self) -> Workload:
        return self.workload_parts[0][0]

    @property
    @abstractmethod
    def downlink_bits(self) -> float:
        """Bits of the global state the server broadcasts each round."""
