"""What every strategy file provides, and what fedsim's own update-space strategies implement.

A strategy file (one per algorithm, registered in ``_registry``) holds:

- ``ASYNCHRONOUS``: whether the algorithm runs on the event-driven world (no rounds) or in
  synchronous rounds; a declared property, never derived from the name;
- ``Params``: its own config keys (``strategy.KEY``), a frozen dataclass that validates itself,
  with ``check_run`` for rules that involve the rest of the run (e.g. Krum's f against the devices
  per round);
- ``build(params, run)``: the server-side strategy object. Flower's strategies are built from
  ``flwr.serverapp.strategy`` (imported there, so that validating a config stays light);
  fedsim's own synchronous ones are :class:`UpdateStrategy` objects;
- optionally ``train_config(params)``: keys added to every TRAIN message's config, which switch
  on a client side (q-FedAvg's loss at the global model).

Selection is never the strategy's: the control plane picks the devices (``fedsim.control``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StrategyParams:
    """A strategy's own keys; subclasses add fields and validate them in ``__post_init__``."""

    def check_run(self, run: Any) -> None:
        """Rules that involve the rest of the run configuration (a ``RunConfig``)."""


@dataclass
class ClientUpdate:
    """One delivered, decoded upload: what the server aggregates."""

    device: int
    update: list[np.ndarray]  # Δ of the task's update entries (local - global), decoded from m bits
    num_examples: float
    train_loss: float
    metrics: dict[str, Any] = field(default_factory=dict)  # the reply's metrics
    extras: dict[str, list[np.ndarray]] = field(default_factory=dict)  # further decoded payloads


class UpdateStrategy(ABC):
    """A fedsim strategy that aggregates the decoded updates Δ directly.

    Flower's strategies aggregate model weights; fedsim hands them ``global + Δ``. Its own
    strategies see the decoded Δ as they arrived, so nothing is rounded on the way (the default
    ``fedavg`` keeps the ledger of fedsim's first FedAvg bit for bit).
    """

    uplink_extras: tuple[str, ...] = ()  # further payloads a device uploads (encoded like its update)

    def train_config(self, server_round: int) -> dict[str, Any]:
        """Keys added to this round's TRAIN messages."""
        return {}

    def downlink_extras(self, server_round: int, shapes: list[tuple[int, ...]] | None = None) -> dict[str, list[np.ndarray]]:
        """Arrays broadcast with the model this round besides it (SCAFFOLD's control variate), in
        the task's update ``shapes``; the wrapper sends them at m bits and prices them."""
        return {}

    @abstractmethod
    def aggregate_updates(self, server_round: int, record: Any, updates: list[ClientUpdate], task: Any) -> tuple[Any, dict[str, Any]]:
        """The new global ArrayRecord from ``record`` and the delivered ``updates`` (never empty),
        and the aggregation's info for the ledger."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def flower_sampling() -> dict[str, Any]:
    """Constructor arguments that hand selection to fedsim: a Flower strategy built with these
    trains every node it is offered and asks for no federated evaluation (the server evaluates)."""
    return dict(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=1, min_evaluate_nodes=0, min_available_nodes=1)
