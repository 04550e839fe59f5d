"""WirelessStrategy: any strategy in the wireless world, the way Flower's DP wrappers wrap one.

Per round (``WirelessStrategy.start`` runs the rounds, from round 1 or from a checkpoint's next):
- ``configure_train`` asks the World for an ``Observation`` and the policy for a
  ``RoundDecision`` (who trains, at which power and channel, at which n, m, I). The inner
  strategy's own sampling is replaced by that decision: the inner strategy configures the round
  (what it adds to the config, e.g. FedProx's ``proximal-mu``, and the arrays it sends), and each
  selected node gets that content with its own ``ConfigRecord``;
- ``aggregate_train`` asks the World what each upload cost and whether it arrived (a
  ``RoundPlan`` carrying the decision), drops the late, lost, failed and non-finite ones, decodes
  the delivered m-bit payloads and hands them to the inner strategy: a Flower strategy gets the
  replies it would get without a radio (each device's model, ``global + Δ``, and its metrics), one
  of fedsim's own (:class:`~fedsim.strategies.UpdateStrategy`) gets the decoded updates Δ;
- the server's evaluation closes the round, and every round-end callback (the ledger writer,
  the progress bar) gets the round's ``RoundReport``.

Every row of the round is built by ``_rows``; the wrapper only filters and decodes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Result, Strategy

from .._gc import frozen_heap
from ..config import OperatingPoint
from ..control import Policy, RoundDecision
from ..errors import ClientAppError, ConfigError
from ..strategies import ClientUpdate, UpdateStrategy
from ..tasks import Task
from ..rng import numpy_stream
from ..tasks._records import encoded_to_record, record_to_encoded
from ..uplink import decode_update, encode_update
from ..world import CLIENT_ERROR, NONFINITE_UPDATE, RoundOutcome, RoundPlan, World
from ._client_errors import client_error_line
from ._inner_state import load_strategy_state, seeded_globals, strategy_state
from ._round_report import RoundCallback, RoundReport
from ._rows import device_row_of_outcome, example_weighted_loss

_NODE_POLL_S = 0.2  # how often the device query looks for SuperNodes that registered since
SUPERNODE_TIMEOUT_S = 120.0  # how long a run waits for one SuperNode per device


@contextmanager
def quiet_flower_log():
    """Silence Flower's INFO/WARNING log: the progress bar and the ledger replace its round log
    (and the wrapped strategies' notes, e.g. that federated evaluation is off: the server evaluates)."""
    logger = logging.getLogger("flwr")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def all_finite(arrays: Iterable[np.ndarray]) -> bool:
    """Whether every value of every array is finite (a decoded update the server may aggregate)."""
    return all(np.isfinite(a).all() for a in arrays)


def record_finite(record: ArrayRecord) -> bool:
    """Whether a global model holds no NaN/inf (else it diverged: the run stops)."""
    return all_finite(a.numpy() for a in record.values())


def evaluation_point(decision: RoundDecision | None, default: OperatingPoint) -> OperatingPoint:
    """The precision the global model is evaluated at: the highest n any device trained at."""
    if decision is None or decision.devices.size == 0:
        return default
    return OperatingPoint(
        train_bits=int(decision.train_bits.max()),
        uplink_bits=int(decision.uplink_bits.max()),
        local_iters=int(decision.local_iters.max()),
        devices_per_round=int(decision.devices.size),
    )


class _AllNodes(Grid):
    """The grid a wrapped strategy configures a round on: it lists the federation's nodes and
    sends nothing (the wrapper sends the round's messages itself)."""

    def __init__(self, node_ids: Sequence[int]) -> None:
        self._node_ids = list(node_ids)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._node_ids)

    @property
    def run(self):  # pragma: no cover - not used by strategies' configure_train
        raise NotImplementedError

    def set_run(self, run_id: int) -> None:  # pragma: no cover
        raise NotImplementedError

    def create_message(self, *args, **kwargs):  # pragma: no cover
        raise NotImplementedError

    def push_messages(self, messages):  # pragma: no cover
        raise NotImplementedError

    def pull_messages(self, message_ids):  # pragma: no cover
        raise NotImplementedError

    def send_and_receive(self, messages, *, timeout=None):  # pragma: no cover
        raise NotImplementedError


def local_model_record(global_record: ArrayRecord, keys: Sequence[str], update: Sequence[np.ndarray]) -> ArrayRecord:
    """A device's model as Flower's strategies expect it in a reply: the global state with the
    decoded update added to its update entries (float32, as the model's own arithmetic)."""
    out = ArrayRecord()
    delta = dict(zip(keys, update))
    for key in global_record.keys():
        value = global_record[key].numpy()
        if key in delta:
            value = (value + np.asarray(delta[key], dtype=value.dtype)).astype(value.dtype, copy=False)
        out[key] = Array(np.ascontiguousarray(value))
    return out


def conformed(record: ArrayRecord, like: ArrayRecord) -> ArrayRecord:
    """``record`` with the entries, order and dtypes of ``like`` (a Flower strategy may return
    float64 for an integer buffer, or keep what it was given for entries it does not average)."""
    out = ArrayRecord()
    for key in like.keys():
        reference = like[key].numpy()
        value = record[key].numpy() if key in record else reference
        out[key] = Array(np.ascontiguousarray(np.asarray(value).astype(reference.dtype, copy=False)))
    return out


class WirelessStrategy(Strategy):
    """``inner`` (a Flower ``Strategy`` or a fedsim ``UpdateStrategy``) run in ``world`` with
    ``policy`` choosing the devices; ``train_config`` is added to every TRAIN message's config."""

    def __init__(
        self,
        inner: Strategy | UpdateStrategy,
        task: Task,
        world: World,
        policy: Policy | None,
        callbacks: Sequence[RoundCallback] = (),
        *,
        train_config: dict[str, Any] | None = None,
        supernode_timeout_s: float = SUPERNODE_TIMEOUT_S,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.task = task
        self.world = world
        self.policy = policy
        self.callbacks = list(callbacks)
        self.extra_train_config = dict(train_config or {})
        self.node_of_device: dict[int, int] = {}
        self._round: RoundReport | None = None
        self._sent: dict[str, Any] = {}
        self._previous_outcome: RoundOutcome | None = None
        self.num_examples: np.ndarray | None = None
        self.first_client_error: str | None = None  # the first ClientApp failure of the run
        self.diverged_round: int | None = None  # the round whose global model became non-finite
        self.supernode_timeout_s = supernode_timeout_s

    @property
    def seed(self) -> int:
        return self.task.config.seed

    # -- the round loop ---------------------------------------------------------------------
    def start(
        self,
        grid: Grid,
        initial_arrays: ArrayRecord,
        num_rounds: int = 3,
        timeout: float = 3600,
        train_config: ConfigRecord | None = None,
        evaluate_config: ConfigRecord | None = None,
        evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None = None,
        *,
        first_round: int = 0,
        after_round: Callable[[int, ArrayRecord], None] | None = None,
    ) -> Result:
        """Flower's ``Strategy.start`` loop, able to begin after a checkpoint: round 0 evaluates
        ``initial_arrays``; ``first_round`` > 0 continues from a completed round
        ``first_round - 1`` whose global model is ``initial_arrays``. ``after_round(round,
        arrays)`` runs once a round is complete (its ledger rows written), to checkpoint it.

        A round is training, aggregation and the server's evaluation (no federated evaluation).
        The result's ``arrays`` is the global model after the last round, aggregated or not.
        """
        train_config = ConfigRecord() if train_config is None else train_config
        result = Result(arrays=initial_arrays)
        arrays = initial_arrays
        for server_round in range(first_round, num_rounds + 1):
            if server_round > 0:
                replies = grid.send_and_receive(self.configure_train(server_round, arrays, train_config, grid), timeout=timeout)
                aggregated, train_metrics = self.aggregate_train(server_round, replies)
                if aggregated is not None:
                    arrays = aggregated
                if train_metrics is not None:
                    result.train_metrics_clientapp[server_round] = train_metrics
            if evaluate_fn is not None:
                metrics = evaluate_fn(server_round, arrays)
                if metrics is not None:
                    result.evaluate_metrics_serverapp[server_round] = metrics
            result.arrays = arrays
            if self.diverged_round is not None:
                break  # the round is recorded; nothing can be learned from a non-finite model
            if after_round is not None:
                after_round(server_round, arrays)
        return result

    def state_dict(self) -> dict[str, Any]:
        """What the wrapper carries from round to round: the last outcome (the next observation
        reports it to the policy), the run's first ClientApp error, and the inner strategy's state."""
        previous = self._previous_outcome
        inner = self.inner.state_dict() if isinstance(self.inner, UpdateStrategy) else strategy_state(self.inner)
        return {"previous_outcome": None if previous is None else previous.state_dict(), "first_client_error": self.first_client_error, "inner": inner}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        previous = state["previous_outcome"]
        self._previous_outcome = None if previous is None else RoundOutcome.from_state_dict(previous)
        self.first_client_error = state["first_client_error"]
        if isinstance(self.inner, UpdateStrategy):
            self.inner.load_state_dict(state["inner"])
        else:
            load_strategy_state(self.inner, state["inner"])

    def _note_client_error(self, reply: Message) -> None:
        if self.first_client_error is None:
            self.first_client_error = client_error_line(str(reply.error.reason))

    # -- device discovery ------------------------------------------------------------------
    def discover_devices(self, grid: Grid) -> None:
        """Ask every node which partition it holds (node ids are random under Flower).

        Under Flower's runtimes SuperNodes register after the ServerApp starts (the simulation
        engine a moment later, real devices whenever they connect), so this waits, up to
        ``supernode_timeout_s``, until one node per device has answered. A federation of another
        size is a one-line error; a node whose query fails is unreachable, and a run where none
        answers fails naming the first error.
        """
        n = self.world.num_devices
        mapping, sizes, asked = {}, np.zeros(n), set()
        deadline = time.monotonic() + self.supernode_timeout_s
        while True:
            nodes = list(grid.get_node_ids())
            if len(nodes) > n:
                raise ConfigError("num-supernodes", len(nodes), f"world.num_devices={n}: one SuperNode per device")
            queries = [
                Message(RecordDict({"config": ConfigRecord({})}), dst_node_id=node, message_type=MessageType.QUERY)
                for node in nodes
                if node not in asked
            ]
            asked.update(nodes)
            for reply in grid.send_and_receive(queries):
                if reply.has_error():
                    self._note_client_error(reply)
                    continue
                record = reply.content["device"]
                device, federation = int(record["device"]), int(record["num-partitions"])
                if federation != n:
                    raise ConfigError("num-supernodes", federation, f"world.num_devices={n}: one SuperNode per device")
                if not 0 <= device < n or device in mapping:
                    raise ConfigError("partition-id", device, f"a distinct partition in [0, {n - 1}] per SuperNode")
                mapping[device] = reply.metadata.src_node_id
                sizes[device] = float(record["num-examples"])
            if len(asked) == n or time.monotonic() >= deadline:
                break
            time.sleep(_NODE_POLL_S)
        if not mapping:
            raise ClientAppError(f"no ClientApp answered the device query; the first error: {self.first_client_error}")
        if len(asked) < n:
            raise ConfigError(
                "num-supernodes", len(asked), f"world.num_devices={n} SuperNodes connected within {self.supernode_timeout_s:g} s"
            )
        self.node_of_device = dict(sorted(mapping.items()))
        self.num_examples = sizes  # K_i, which data-aware policies weigh devices by

    # -- training --------------------------------------------------------------------------
    def _inner_content(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord) -> tuple[ArrayRecord, dict[str, Any]]:
        """The arrays and config the inner strategy would send this round (its sampling aside)."""
        if isinstance(self.inner, UpdateStrategy):
            return arrays, {**dict(config), **self.inner.train_config(server_round)}
        with seeded_globals(self.seed, "strategy-configure", server_round), quiet_flower_log():
            messages = list(self.inner.configure_train(server_round, arrays, ConfigRecord(dict(config)), _AllNodes(list(self.node_of_device.values()))))
        if not messages:
            return arrays, dict(config)
        content = messages[0].content
        sent = next(iter(content.array_records.values()), arrays)
        sent_config = next(iter(content.config_records.values()), ConfigRecord())
        return sent, dict(sent_config)

    def _downlink_extras(self, server_round: int) -> tuple[dict[str, ArrayRecord], int]:
        """What a fedsim strategy broadcasts besides the model (SCAFFOLD's c), encoded at the
        run's m bits, and its bits (the World prices them on the downlink)."""
        if not isinstance(self.inner, UpdateStrategy):
            return {}, 0
        records, bits = {}, 0
        for name, values in self.inner.downlink_extras(server_round, self.task.update_shapes).items():
            stream = numpy_stream(self.seed, f"downlink-quantizer-{name}", server_round)
            encoded = encode_update(values, self.task.config.op.uplink_bits, stream)
            records[name] = encoded_to_record(encoded)
            bits += encoded.payload_bits
        return records, bits

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        if not self.node_of_device:
            self.discover_devices(grid)
        reachable = np.zeros(self.world.num_devices, dtype=bool)
        reachable[list(self.node_of_device)] = True  # Flower reaches these nodes
        csi = self.policy.config
        observation = self.world.observe(
            server_round,
            csi=csi.csi,
            csi_error_db=csi.csi_error_db,
            csi_delay_rounds=csi.csi_delay_rounds,
            previous=self._previous_outcome,
            reachable=reachable,
            num_examples=self.num_examples,
        )
        decision = self.policy.decide(observation)
        if not isinstance(decision, RoundDecision):  # a user's policy (policy=custom) returned something else
            raise ConfigError("policy.decide", type(decision).__name__, "a fedsim.control.RoundDecision (e.g. from self.at_operating_point(...))")
        decision = decision.check(observation)
        sent_arrays, inner_config = self._inner_content(server_round, arrays, config)
        extras, extra_bits = self._downlink_extras(server_round)
        self._sent = {"round": server_round, "decision": decision, "arrays": arrays, "downlink_extra_bits": extra_bits}
        messages = []
        # The keys every device gets, type-checked once; each node's record is a copy (Flower's
        # documented copy, no checks) with its own keys set after them, in the same key order.
        shared = ConfigRecord({**inner_config, **self.extra_train_config, "server-round": server_round})
        for i, device in enumerate(decision.devices):
            node_config = shared.copy()
            node_config["device"] = int(device)
            node_config["train-bits"] = int(decision.train_bits[i])
            node_config["uplink-bits"] = int(decision.uplink_bits[i])
            node_config["local-iters"] = int(decision.local_iters[i])
            node_config["devices-per-round"] = int(decision.devices.size)
            messages.append(
                Message(
                    RecordDict({"arrays": sent_arrays, "config": node_config, **extras}),
                    dst_node_id=self.node_of_device[int(device)],
                    message_type=MessageType.TRAIN,
                    group_id=str(server_round),
                )
            )
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        decision: RoundDecision = self._sent["decision"]
        selected = decision.devices
        by_device = {}
        for reply in replies:
            if not reply.has_error():
                by_device[int(reply.content["metrics"]["device"])] = reply.content
            else:
                self._note_client_error(reply)
        # A device whose reply failed sends nothing: zero bits, and it cannot be delivered.
        payload_bits = np.array(
            [by_device[d]["metrics"]["payload-bits"] if d in by_device else 0 for d in selected], dtype=np.int64
        )
        plan = RoundPlan(
            round=server_round,
            devices=selected,
            local_iters=decision.local_iters,
            train_bits=decision.train_bits,
            uplink_bits=payload_bits,
            downlink_bits=self.task.downlink_bits + self._sent["downlink_extra_bits"],
            tx_power_w=decision.tx_power_w,
            channel=decision.channel,
        )
        outcome = self.world.simulate_round(plan)
        self._previous_outcome = outcome
        delivered = [bool(ok) and int(d) in by_device for d, ok in zip(selected, outcome.delivered)]
        reasons = [str(r) if int(d) in by_device else CLIENT_ERROR for d, r in zip(selected, outcome.drop_reason)]

        updates: list[ClientUpdate] = []
        for i, (device, arrived) in enumerate(zip(selected, delivered)):
            if not arrived:
                continue
            content = by_device[int(device)]
            bits = int(decision.uplink_bits[i])
            update = decode_update(record_to_encoded(content["update"], bits), self.task.update_shapes)
            extras = {name: decode_update(record_to_encoded(content[name], bits), self.task.update_shapes)
                      for name in getattr(self.inner, "uplink_extras", ())}
            if not all_finite([*update, *(a for values in extras.values() for a in values)]):
                # A diverged (or poisoned) client: its NaN/inf must never reach the global model.
                delivered[i], reasons[i] = False, NONFINITE_UPDATE
                continue
            metrics = dict(content["metrics"])
            updates.append(ClientUpdate(int(device), update, float(metrics["num-examples"]), float(metrics["train-loss"]), metrics, extras))

        rows, device_metrics = [], []
        for i, device in enumerate(selected):
            content = by_device.get(int(device))
            metrics = {} if content is None else dict(content["metrics"])
            device_metrics.append(metrics)
            rows.append(device_row_of_outcome(
                outcome, i, server_round=server_round, train_bits=int(decision.train_bits[i]),
                uplink_bits=int(decision.uplink_bits[i]), payload_bits=int(payload_bits[i]), local_iters=int(decision.local_iters[i]),
                num_examples=None if content is None else int(metrics["num-examples"]), delivered=delivered[i], drop_reason=reasons[i],
                train_loss=None if content is None else float(metrics["train-loss"]),
            ))
        train_loss = example_weighted_loss([(u.train_loss, u.num_examples) for u in updates])
        self._round = RoundReport(server_round, self.world.now_s, decision, outcome, rows, device_metrics, train_loss)

        if not updates:
            return None, MetricRecord({"delivered": 0})
        global_arrays: ArrayRecord = self._sent["arrays"]
        new_arrays, info = self._aggregate(server_round, global_arrays, updates)
        if new_arrays is None:  # the inner strategy declined (e.g. Bulyan with too few updates)
            return None, MetricRecord({"delivered": len(updates), "train-loss": train_loss})
        self._round.aggregation = info
        if self.diverged_round is None and not record_finite(new_arrays):
            self.diverged_round = server_round  # finite updates, non-finite sum (e.g. a huge train.lr)
        return new_arrays, MetricRecord({"delivered": len(updates), "train-loss": train_loss})

    def _aggregate(self, server_round: int, global_arrays: ArrayRecord, updates: list[ClientUpdate]) -> tuple[ArrayRecord | None, dict[str, Any]]:
        """The inner strategy's aggregate of the delivered updates."""
        if isinstance(self.inner, UpdateStrategy):
            return self.inner.aggregate_updates(server_round, global_arrays, updates, self.task)
        replies = flower_replies(global_arrays, self.task.update_keys, updates)
        with seeded_globals(self.seed, "strategy-aggregate", server_round), quiet_flower_log(), frozen_heap():
            new_arrays, _ = self.inner.aggregate_train(server_round, replies)
        return (None if new_arrays is None else conformed(new_arrays, global_arrays)), {}

    # -- what Flower's Strategy also asks ----------------------------------------------------
    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        return []  # the server evaluates the global model on the test set

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return None

    # -- the end of a round ------------------------------------------------------------------
    def evaluate_global(self, server_round: int, arrays: ArrayRecord) -> MetricRecord:
        """The server's evaluation (Flower's ``evaluate_fn``); it closes the round, so the
        round-end callbacks run here."""
        report = self._round if server_round > 0 else RoundReport(0, self.world.now_s)
        self._round = None
        op = evaluation_point(report.decision, self.task.config.op)
        report.metrics = self.task.evaluate(arrays, op)
        for callback in self.callbacks:
            callback.on_round_end(report)
        return MetricRecord({"accuracy": report.metrics["accuracy"], "loss": report.metrics["loss"]})

    def summary(self) -> None:  # Flower's strategies log their settings here; fedsim prints its own summary.
        return None


def flower_replies(global_arrays: ArrayRecord, keys: Sequence[str], updates: Sequence[ClientUpdate]) -> list[Message]:
    """The replies a Flower strategy would receive without the radio: each device's model and its
    metrics, one ArrayRecord and one MetricRecord per reply (as Flower's strategies check)."""
    return [
        Message(
            RecordDict({"arrays": local_model_record(global_arrays, keys, u.update), "metrics": MetricRecord(dict(u.metrics))}),
            dst_node_id=0,
            message_type=MessageType.TRAIN,
        )
        for u in updates
    ]
