"""WorldGrid: any Flower app in the wireless world, every message priced by a fedsim World.

A ``flwr.serverapp.Grid`` that runs a user's ``ClientApp`` in process (as ``InProcessGrid`` does)
and treats each batch of pushed messages as one round of the World:

- downlink: the bytes of the messages' arrays (serialized ``ArrayRecord`` data), broadcast by the
  base station at the worst selected device's rate (the World's downlink model);
- compute: a training example costs a forward and a backward pass (the energy model's training
  step), an evaluation example the forward pass only (a third of it); the MACs per example are
  declared (``devices.energy.macs``) or measured from a torch model, and the examples come from
  the reply's ``num-examples`` metric (Flower's convention). Wall time is never used: it would
  make the ledger depend on the host;
- uplink: the reply's array bytes through the channel, access scheme, deadline and packet errors.
  A reply that misses the deadline or is lost is not returned by ``pull_messages``, as a reply
  that times out is not under Flower's runtimes: the strategy sees fewer replies.

Each batch is one ledger round (one ``group_id`` and message type): ``rounds.csv`` and
``devices.csv`` with the bytes each way, seconds, joules, delivered and drop reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from flwr.app import Message, MessageType
from flwr.clientapp import ClientApp

from ..control import HandoverConfig, assign_handover
from ..errors import ConfigError
from ..federation._rows import device_row_of_outcome, outcome_energy, round_row
from ..ledger import Column, Ledger
from ..workload import Workload
from ..world import CLIENT_ERROR, RoundPlan, World, WorldConfig
from ._inprocess import InProcessGrid

EXAMPLES_KEY = "num-examples"  # Flower's convention for the examples behind a reply
_FORWARD_SHARE = 1.0 / 3.0  # a forward pass is a third of a training step's MACs (1 + 2 backward)

ROUND_EXTRAS = (
    Column("message_type", "train, evaluate or query"),
    Column("group_id", "the strategy's group id of the batch (its round)"),
    Column("downlink_bytes", "bytes of the broadcast arrays"),
)
DEVICE_EXTRAS = (
    Column("message_type", "train, evaluate or query"),
    Column("downlink_bytes", "bytes of the arrays the device received"),
    Column("uplink_bytes", "bytes of the arrays of its reply"),
)


def array_bytes(message: Message) -> int:
    """Bytes of a message's arrays as Flower serializes them (every ArrayRecord's data)."""
    content = message.content
    return sum(len(array.data) for record in content.array_records.values() for array in record.values())


def _examples(reply: Message) -> int:
    for record in reply.content.metric_records.values():
        if EXAMPLES_KEY in record:
            return int(record[EXAMPLES_KEY])
    return 0


def _metric(reply: Message, names: tuple[str, ...]) -> float | None:
    for record in reply.content.metric_records.values():
        for name in names:
            if name in record:
                return float(record[name])
    return None


class WorldGrid(InProcessGrid):
    """A Grid whose messages travel through a fedsim World (see the module docstring).

    ``world_config`` and ``seed`` build the World on the first training batch, when the model's
    size is known from the arrays sent (``workload`` gives the MACs per example, activations and
    input size; ``params`` are counted from the arrays unless given). Cellular drones get their
    serving cells from the ``handover`` rule, as under ``fedsim run``.
    """

    def __init__(
        self,
        client_app: ClientApp,
        world_config: WorldConfig,
        run_config: Mapping[str, Any],
        *,
        seed: int,
        workload: Workload | None,
        ledger: Ledger,
        local_epochs: int = 1,
        handover: HandoverConfig | None = None,
    ) -> None:
        super().__init__(client_app, world_config.num_devices, run_config, seed=seed)
        self.world_config = world_config
        self.seed = seed
        self.handover = HandoverConfig() if handover is None else handover
        self.declared = workload
        self.ledger = ledger
        self.local_epochs = local_epochs
        self.world: World | None = None
        self._round = 0
        self._partition = {node: ctx.node_config["partition-id"] for node, ctx in self._contexts.items()}

    def _world_for(self, messages: list[Message]) -> World:
        if self.world is None:
            params = sum(int(np.prod(a.shape)) for m in messages for r in m.content.array_records.values() for a in r.values())
            params = max(params // max(len(messages), 1), 1)
            if self.declared is None:
                raise ConfigError("devices.energy.macs", None, "the MACs per example of the app's model (or pass model= to measure it)")
            workload = Workload(
                params=self.declared.params or params,
                macs=self.declared.macs,
                activations=self.declared.activations,
                input_size=self.declared.input_size,
            )
            self.world = World(self.world_config, workload, self.seed)
            if self.world.drones is not None:  # cellular drones: the configured rule serves them
                assign_handover(self.world, self.handover)
        return self.world

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        batch = list(messages)
        if not batch:
            return []
        kinds = {m.metadata.message_type for m in batch}
        if kinds == {MessageType.QUERY}:  # no learning: not priced
            return super().push_messages(batch)
        kind = sorted(kinds)[0]
        if kind.startswith(MessageType.TRAIN) and not any(array_bytes(m) for m in batch):
            raise ConfigError("app", "train messages without arrays", "messages that carry the model as an ArrayRecord")
        ids = super().push_messages(batch)  # each ClientApp runs now; replies wait in self._replies
        replies = [self._replies[i] for i in ids]
        world = self._world_for(batch)
        self._round += 1
        devices = np.array([self._partition[m.metadata.dst_node_id] for m in batch], dtype=np.int64)
        failed = [r.has_error() for r in replies]
        up_bytes = np.array([0 if bad else array_bytes(r) for r, bad in zip(replies, failed)], dtype=np.int64)
        down_bytes = max(array_bytes(m) for m in batch)
        examples = np.array([0 if bad else _examples(r) for r, bad in zip(replies, failed)], dtype=float)
        training = kind.startswith(MessageType.TRAIN)
        # Local iterations of one sample each (the World's batch is 1 here): a training example
        # per epoch, or an evaluation example as a third of a step.
        passes = examples * self.local_epochs if training else np.ceil(examples * _FORWARD_SHARE)
        plan = RoundPlan(
            round=self._round,
            devices=devices,
            local_iters=np.maximum(passes, 1).astype(np.int64),
            train_bits=np.full(devices.size, 32),
            uplink_bits=8.0 * up_bytes,
            downlink_bits=8.0 * down_bytes,
        )
        outcome = world.simulate_round(plan)
        delivered = outcome.delivered & ~np.array(failed)
        for message_id, ok in zip(ids, delivered):
            if not ok:  # late or lost: the strategy never sees it, as with a timeout
                self._replies.pop(message_id, None)
        self._record(kind, batch, replies, plan, outcome, delivered, failed, up_bytes, down_bytes)
        return ids

    def _record(self, kind, batch, replies, plan, outcome, delivered, failed, up_bytes, down_bytes) -> None:
        rows, extras = [], []
        for i, reply in enumerate(replies):
            trained = kind.startswith(MessageType.TRAIN) and not failed[i]
            rows.append(device_row_of_outcome(
                outcome, i, server_round=self._round, train_bits=32, uplink_bits=32, payload_bits=int(8 * up_bytes[i]),
                local_iters=int(plan.local_iters[i]), num_examples=None if failed[i] else _examples(reply),
                delivered=bool(delivered[i]), drop_reason=CLIENT_ERROR if failed[i] else str(outcome.drop_reason[i]),
                train_loss=_metric(reply, ("train_loss", "train-loss", "loss")) if trained else None,
            ))
            extras.append({"message_type": kind, "downlink_bytes": int(down_bytes), "uplink_bytes": int(up_bytes[i])})
        arrived = [r for r, ok in zip(replies, delivered) if ok]
        evaluation = kind.startswith(MessageType.EVALUATE)
        metrics = {"accuracy": _weighted(arrived, ("accuracy", "eval_acc", "acc")) if evaluation else math.nan,
                   "loss": _weighted(arrived, ("loss", "eval_loss")) if evaluation else math.nan}
        row = round_row(
            self._round, sim_time_s=self.world.now_s, round_time_s=outcome.duration_s, energy_j=outcome_energy(outcome),
            energy_round_j=outcome.energy_j, metrics=metrics, rows=rows, train_loss=None,
        )
        group = batch[0].metadata.group_id
        self.ledger.record_round(
            row, rows, extras={"message_type": kind, "group_id": group, "downlink_bytes": int(down_bytes)}, device_extras=extras
        )


def _weighted(replies: list[Message], names: tuple[str, ...]) -> float:
    """The example-weighted mean of a metric over the replies that arrived (nan: none has it)."""
    values = [(_metric(r, names), max(_examples(r), 1)) for r in replies]
    values = [(v, w) for v, w in values if v is not None]
    if not values:
        return math.nan
    return float(np.average([v for v, _ in values], weights=[w for _, w in values]))
