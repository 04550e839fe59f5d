"""WorldGrid: any Flower app in the wireless world, every message priced by a fedsim World.

A ``flwr.serverapp.Grid`` that runs a user's ``ClientApp`` in process (as ``InProcessGrid`` does)
and treats each batch of pushed messages as one step of the World:

- downlink: the bytes of the instruction messages, every record (arrays, configs, metrics) as
  Flower counts them (``record.count_bytes()``, what ``message_size_mod`` logs), broadcast by the
  base station at the worst selected device's rate (the World's downlink model:
  ``radio.downlink_power_w``, received at ``devices.rx_power_w``);
- compute: a training example costs a forward and a backward pass (the energy model's training
  step), an evaluation example the forward pass only; the MACs per example are declared
  (``devices.energy.macs``), measured from a torch model, or counted in the ClientApp's first call
  (``torch.utils.flop_counter``, forward and backward apart: see ``MacCounter``). The examples are
  the reply's ``num-examples`` metric (Flower's convention) times the local epochs (the
  instruction's ``local-epochs`` config, else the grid's ``local_epochs``); the World's mini-batch
  is one example, so a local iteration is one example. Wall time is never used: it would make the
  ledger depend on the host;
- uplink: the reply's bytes (every record, as above) through the channel, access scheme, deadline
  and packet errors. A reply that misses the deadline or is lost is not returned by
  ``pull_messages``, as a reply that times out is not under Flower's runtimes: the strategy sees
  fewer replies.

Each batch is one row of ``rounds.csv`` (and a row per device in ``devices.csv``) with the bytes
each way, seconds, joules, delivered and drop reason; its ``round`` is the ServerApp's round: the
``server-round`` that Flower's strategies put into every instruction's config, else a numeric
``group_id``, else counted (a training batch opens the next round, any other batch belongs to the
round in progress). A round's train and evaluate batches are two rows with the same ``round``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from flwr.app import Message, MessageType
from flwr.clientapp import ClientApp

from ..control import HandoverConfig, assign_handover
from ..errors import ConfigError
from ..federation._client_errors import client_error_line
from ..federation._rows import device_row_of_outcome, outcome_energy, round_row
from ..ledger import Column, Ledger
from ..workload import Workload
from ..world import CLIENT_ERROR, RoundPlan, World, WorldConfig
from ._inprocess import InProcessGrid

EXAMPLES_KEY = "num-examples"  # Flower's convention for the examples behind a reply
EPOCHS_KEY = "local-epochs"  # the Flower templates' run-config key for local epochs
SERVER_ROUND_KEY = "server-round"  # Flower's strategies put the round into every instruction's config

ROUND_EXTRAS = (
    Column("message_type", "train, evaluate or query"),
    Column("group_id", "the messages' group id, as the app set it"),
    Column("downlink_bytes", "bytes of the broadcast instruction (the largest of the batch): every record, as Flower counts them"),
)
DEVICE_EXTRAS = (
    Column("message_type", "train, evaluate or query"),
    Column("downlink_bytes", "bytes of the instruction the device received: every record, as Flower counts them"),
    Column("uplink_bytes", "bytes of its reply: every record (arrays, metrics, configs), as Flower counts them"),
)


def array_bytes(message: Message) -> int:
    """Bytes of a message's arrays as Flower serializes them (every ArrayRecord's data)."""
    content = message.content
    return sum(len(array.data) for record in content.array_records.values() for array in record.values())


def message_bytes(message: Message) -> int:
    """Bytes of a message's content as Flower counts them (``flwr.clientapp.mod.message_size_mod``):
    every ArrayRecord's data, every MetricRecord's and ConfigRecord's values, and their keys."""
    return sum(record.count_bytes() for record in message.content.values())


def _declared_round(message: Message) -> int | None:
    """The server round a message says it belongs to: the ``server-round`` of its config (Flower's
    strategies set it), else its ``group_id`` when that is a number; None: it does not say."""
    for record in message.content.config_records.values():
        value = record.get(SERVER_ROUND_KEY)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    group = message.metadata.group_id
    return int(group) if isinstance(group, str) and group.isdigit() else None


def _config_epochs(message: Message) -> float | None:
    for record in message.content.config_records.values():
        value = record.get(EPOCHS_KEY)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


class MacCounter:
    """The multiply-accumulates of the torch operations run inside ``with``, forward and backward
    apart: ``torch.utils.flop_counter.FlopCounterMode`` counts FLOPs (MACs = FLOPs / 2); an
    operation the autograd engine runs (``ModuleTracker.is_bw``) is backward, any other forward.
    Should a torch release change the hooks this relies on, the total is split as the papers'
    constants assume instead (forward a third, backward two thirds), and ``split`` says so."""

    def __init__(self) -> None:
        self.forward_flops = 0
        self.backward_flops = 0
        self.total_flops = 0
        self.split = "measured"

    def __enter__(self) -> MacCounter:
        try:
            from torch.utils.flop_counter import FlopCounterMode
        except ImportError:
            raise ConfigError(
                "devices.energy.macs", None, "the MACs per example of the app's model (torch is not installed to count them)"
            ) from None
        counter = self

        class _Split(FlopCounterMode):
            def _count_flops(self, func_packet, out, args, kwargs):  # noqa: ANN001, ANN202 - FlopCounterMode's hook
                if func_packet not in self.flop_registry:
                    return super()._count_flops(func_packet, out, args, kwargs)
                counts = self.flop_counts["Global"]
                before = sum(counts.values())
                result = super()._count_flops(func_packet, out, args, kwargs)
                added = sum(self.flop_counts["Global"].values()) - before
                try:
                    backward = bool(self.mod_tracker.is_bw)
                except Exception:  # noqa: BLE001 - no way to tell: the total is split instead
                    counter.split = "assumed"
                    backward = False
                if backward:
                    counter.backward_flops += added
                else:
                    counter.forward_flops += added
                return result

        self._mode = _Split(display=False)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._mode.__exit__(*exc)
        self.total_flops = int(self._mode.get_total_flops())
        if self.forward_flops + self.backward_flops != self.total_flops:
            self.split = "assumed"

    def macs(self) -> tuple[float, float]:
        """(forward, backward) MACs counted: measured apart, or the total split 1 : 2 (``split``)."""
        if self.split == "assumed":
            return self.total_flops / 2 / 3, self.total_flops / 2 * 2 / 3
        return self.forward_flops / 2, self.backward_flops / 2


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

    ``world_config`` and ``seed`` build the World on the first priced batch, when the model's size
    is known from the arrays sent. ``workload``: a ``Workload`` (used as is), a function of the
    parameter count (counted from the first batch's arrays) that returns one, or None: the MACs per
    example are counted in the ClientApp's first successful train call (``MacCounter``), divided
    by the examples it trained (``num-examples`` times the local epochs), with the parameters
    counted and activations and input size 1 (an evaluation before any training that counts
    something gives the forward pass, the backward then twice it). Counting raises a one-line
    ``ConfigError`` at once when that train call ran no countable torch operation or its reply has
    no ``num-examples``. Until something is counted (every ClientApp failed so far) batches are
    not priced. Cellular drones get their serving cells from the ``handover`` rule, as under
    ``fedsim run``. ``first_client_error`` is the first failed reply's reason, in one line.
    """

    def __init__(
        self,
        client_app: ClientApp,
        world_config: WorldConfig,
        run_config: Mapping[str, Any],
        *,
        seed: int,
        workload: Workload | Callable[[int], Workload] | None,
        ledger: Ledger,
        local_epochs: float = 1,
        handover: HandoverConfig | None = None,
    ) -> None:
        super().__init__(client_app, world_config.num_devices, run_config, seed=seed)
        # One example per local iteration: the replies report examples, not mini-batches.
        self.world_config = dataclasses.replace(world_config, batch_size=1)
        self.seed = seed
        self.handover = HandoverConfig() if handover is None else handover
        self.declared = workload
        self.ledger = ledger
        self.local_epochs = local_epochs
        self.world: World | None = None
        self.workload: Workload | None = None
        self.measured: dict[str, Any] | None = None  # what MacCounter found in the first call
        self.first_client_error: str | None = None
        self.train_replies_without_arrays = 0  # what a strategy that aggregates arrays fails over
        self._batch = 0  # the World's round index: one per priced batch
        self._server_round = 0  # the round of the last batch (0 before any)
        self._round_offset = 0  # a ServerApp that starts its rounds again at 1 continues the count
        self._partition = {node: ctx.node_config["partition-id"] for node, ctx in self._contexts.items()}

    # -- the MACs per example, counted in the first call ---------------------------------------
    def _epochs(self, message: Message) -> float:
        return _config_epochs(message) or float(self.local_epochs)

    def _deliver(self, message: Message) -> Message:
        kind = message.metadata.message_type
        if self.declared is not None or self.measured is not None or not kind.startswith((MessageType.TRAIN, MessageType.EVALUATE)):
            return super()._deliver(message)
        with MacCounter() as counter:
            reply = super()._deliver(message)
        if not reply.has_error():  # a failed call measures nothing: the next one is counted
            self._measure(message, reply, counter)
        return reply

    def _measure(self, message: Message, reply: Message, counter: MacCounter) -> None:
        training = message.metadata.message_type.startswith(MessageType.TRAIN)
        forward, backward = counter.macs()
        examples = _examples(reply) * (self._epochs(message) if training else 1.0)
        if not training and (forward + backward <= 0 or examples <= 0):
            return  # an evaluation that tells nothing: the first train call is counted instead
        what = "the MACs per example of the app's model, counted in the ClientApp's first train call"
        if forward + backward <= 0:
            raise ConfigError("devices.energy.macs", None, f"{what}: it ran no torch operation FlopCounterMode counts (an app without torch?); give devices.energy.macs")
        if examples <= 0:
            raise ConfigError("devices.energy.macs", None, f"{what}: its reply has no '{EXAMPLES_KEY}' metric to divide them by; give devices.energy.macs")
        if not training:  # an evaluation (no training came first): all of it is forward
            forward, backward, split = forward + backward, 0.0, "forward only (evaluation)"
        else:
            split = "forward and backward counted apart" if counter.split == "measured" else "total split 1:2 (assumed)"
        self.measured = {
            "macs": forward / examples,
            # No backward counted (a train call without autograd): the World's default, twice the forward.
            "backward_macs": backward / examples if backward > 0 else None,
            "examples": examples,
            "message_type": message.metadata.message_type,
            "split": split,
        }

    # -- the World -------------------------------------------------------------------------
    def _world_for(self, messages: list[Message]) -> World | None:
        if self.world is None:
            params = sum(int(np.prod(a.shape)) for m in messages for r in m.content.array_records.values() for a in r.values())
            params = max(params // max(len(messages), 1), 1)
            if isinstance(self.declared, Workload):
                workload = self.declared
            elif self.declared is not None:
                workload = self.declared(params)
            elif self.measured is not None:
                workload = Workload(params=params, macs=self.measured["macs"], activations=1, input_size=1,
                                    backward_macs=self.measured["backward_macs"])
            else:
                return None  # every ClientApp failed so far: nothing to measure, nothing priced
            self.workload = workload
            self.world = World(self.world_config, workload, self.seed)
            if self.world.drones is not None:  # cellular drones: the configured rule serves them
                assign_handover(self.world, self.handover)
        return self.world

    def _round_of(self, batch: list[Message], training: bool) -> int:
        """The server round of a batch (module docstring); rounds never go back."""
        declared = [r for r in (_declared_round(m) for m in batch) if r is not None]
        if declared:
            server_round = max(declared) + self._round_offset
            if server_round < self._server_round:  # the app started its rounds again
                self._round_offset = self._server_round
                server_round = max(declared) + self._round_offset
        else:
            server_round = self._server_round + 1 if training else self._server_round
        self._server_round = max(server_round, self._server_round)
        return server_round

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        batch = list(messages)
        if not batch:
            return []
        kinds = {m.metadata.message_type for m in batch}
        if kinds == {MessageType.QUERY}:  # no learning: not priced
            return super().push_messages(batch)
        kind = sorted(kinds)[0]
        training = kind.startswith(MessageType.TRAIN)
        if training and not any(array_bytes(m) for m in batch):
            raise ConfigError("app", "train messages without arrays", "messages that carry the model as an ArrayRecord")
        # Counted before the ClientApps run: one may take its arrays out of the message.
        down_bytes = np.array([message_bytes(m) for m in batch], dtype=np.int64)
        epochs = np.array([self._epochs(m) for m in batch], dtype=float)
        server_round = self._round_of(batch, training)
        ids = super().push_messages(batch)  # each ClientApp runs now; replies wait in self._replies
        replies = [self._replies[i] for i in ids]
        failed = [r.has_error() for r in replies]
        for reply, bad in zip(replies, failed):
            if bad and self.first_client_error is None:
                self.first_client_error = client_error_line(reply.error.reason)
            if training and not bad and not reply.content.array_records:
                self.train_replies_without_arrays += 1
        world = self._world_for(batch)
        if world is None:
            return ids
        self._batch += 1
        devices = np.array([self._partition[m.metadata.dst_node_id] for m in batch], dtype=np.int64)
        up_bytes = np.array([0 if bad else message_bytes(r) for r, bad in zip(replies, failed)], dtype=np.int64)
        examples = np.array([0 if bad else _examples(r) for r, bad in zip(replies, failed)], dtype=float)
        # Local iterations of one example each (the World's mini-batch is 1 here): a training
        # example per epoch, an evaluation example as the forward pass's share of a step.
        forward_share = self.workload.macs / self.workload.training_macs
        passes = np.rint(examples * epochs) if training else np.ceil(examples * forward_share)
        plan = RoundPlan(
            round=self._batch,
            devices=devices,
            local_iters=np.maximum(passes, 1).astype(np.int64),
            train_bits=np.full(devices.size, 32),
            uplink_bits=8.0 * up_bytes,
            downlink_bits=8.0 * float(down_bytes.max()),  # one broadcast: the largest instruction
        )
        outcome = world.simulate_round(plan)
        delivered = outcome.delivered & ~np.array(failed)
        for message_id, ok in zip(ids, delivered):
            if not ok:  # late or lost: the strategy never sees it, as with a timeout
                self._replies.pop(message_id, None)
        self._record(kind, server_round, batch, replies, plan, outcome, delivered, failed, up_bytes, down_bytes)
        return ids

    def _record(self, kind, server_round, batch, replies, plan, outcome, delivered, failed, up_bytes, down_bytes) -> None:
        rows, extras = [], []
        for i, reply in enumerate(replies):
            trained = kind.startswith(MessageType.TRAIN) and not failed[i]
            rows.append(device_row_of_outcome(
                outcome, i, server_round=server_round, train_bits=32, uplink_bits=32, payload_bits=int(8 * up_bytes[i]),
                local_iters=int(plan.local_iters[i]), num_examples=None if failed[i] else _examples(reply),
                delivered=bool(delivered[i]), drop_reason=CLIENT_ERROR if failed[i] else str(outcome.drop_reason[i]),
                train_loss=_metric(reply, ("train_loss", "train-loss", "loss")) if trained else None,
            ))
            extras.append({"message_type": kind, "downlink_bytes": int(down_bytes[i]), "uplink_bytes": int(up_bytes[i])})
        arrived = [r for r, ok in zip(replies, delivered) if ok]
        evaluation = kind.startswith(MessageType.EVALUATE)
        metrics = {"accuracy": _weighted(arrived, ("accuracy", "eval_acc", "acc")) if evaluation else math.nan,
                   "loss": _weighted(arrived, ("loss", "eval_loss")) if evaluation else math.nan}
        row = round_row(
            server_round, sim_time_s=self.world.now_s, round_time_s=outcome.duration_s, energy_j=outcome_energy(outcome),
            energy_round_j=outcome.energy_j, metrics=metrics, rows=rows, train_loss=None,
        )
        group = batch[0].metadata.group_id
        try:
            self.ledger.record_round(
                row, rows, extras={"message_type": kind, "group_id": group, "downlink_bytes": int(down_bytes.max())}, device_extras=extras
            )
        except OSError as error:  # fedsim's own write (a full disk), not the app's: marked as such
            error.fedsim_ledger = True
            raise


def _weighted(replies: list[Message], names: tuple[str, ...]) -> float:
    """The example-weighted mean of a metric over the replies that arrived (nan: none has it)."""
    values = [(_metric(r, names), max(_examples(r), 1)) for r in replies]
    values = [(v, w) for v, w in values if v is not None]
    if not values:
        return math.nan
    return float(np.average([v for v, _ in values], weights=[w for _, w in values]))
