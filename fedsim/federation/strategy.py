"""QuantizedFedAvg: Flower's FedAvg with fedsim's policy, per-node operating points and the World.

Per round (``QuantizedFedAvg.start`` runs the rounds, from round 1 or from a checkpoint's next):
- ``configure_train`` asks the World for an ``Observation`` and the policy for a
  ``RoundDecision`` (who trains, at which power and channel, at which n, m, I), and sends each
  selected node the global model and its own ``ConfigRecord``;
- ``aggregate_train`` asks the World what each upload cost and whether it arrived (a
  ``RoundPlan`` carrying the decision), decodes the delivered m-bit payloads, and adds their
  example-weighted average to the global model;
- the server's evaluation closes the round, and every round-end callback (the ledger writer,
  the progress bar) gets the round's ``RoundReport``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, Result

from ..config import OperatingPoint
from ..control import Policy, RoundDecision
from ..errors import ClientAppError, ConfigError
from ..ledger import DeviceRow
from ..uplink import decode_update
from ..world import CLIENT_ERROR, NONFINITE_UPDATE, RoundOutcome, RoundPlan, World
from ._records import record_to_encoded
from ._task import Task

_NODE_POLL_S = 0.2  # how often the device query looks for SuperNodes that registered since
SUPERNODE_TIMEOUT_S = 120.0  # how long a run waits for one SuperNode per device


@dataclass
class RoundReport:
    """What happened in one round: the decision, the physics, the device rows and the metrics.

    Round 0 (the initial model) has no decision and no outcome.
    """

    server_round: int
    sim_time_s: float
    decision: RoundDecision | None = None
    outcome: RoundOutcome | None = None
    device_rows: list[DeviceRow] = field(default_factory=list)
    device_metrics: list[dict[str, Any]] = field(default_factory=list)  # each reply's task metrics
    train_loss: float | None = None
    aggregation: dict[str, Any] = field(default_factory=dict)  # e.g. the factor-averaging error
    metrics: dict[str, float] = field(default_factory=dict)  # the server's evaluation

    @property
    def delivered(self) -> int:
        return sum(r.delivered for r in self.device_rows)


class RoundCallback(Protocol):
    """Called when a round is complete (after aggregation and the server's evaluation)."""

    def on_round_end(self, report: RoundReport) -> None: ...


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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b[^:]*: .+")
_WRAPPERS = ("ray.exceptions.", "ClientAppException", "flwr.")  # how Flower's runtimes wrap the error


def client_error_line(reason: str) -> str:
    """One line for a failed reply's reason: the ClientApp's own exception line when the runtime
    wrapped it in a traceback (Ray's ``RayTaskError`` does), else its last line."""
    lines = [line.strip() for line in _ANSI.sub("", reason).splitlines() if line.strip()]
    raised = [line for line in lines if _EXCEPTION_LINE.match(line) and not line.startswith(_WRAPPERS)]
    return (raised or lines or ["(no reason given)"])[0 if raised else -1]


class QuantizedFedAvg(FedAvg):
    def __init__(
        self,
        task: Task,
        world: World,
        policy: Policy,
        callbacks: Sequence[RoundCallback] = (),
        *,
        supernode_timeout_s: float = SUPERNODE_TIMEOUT_S,
    ) -> None:
        n = task.config.world.num_devices
        # Test accuracy for the ledger is measured by the server on the test set, so federated
        # evaluation is off (fraction_evaluate=0 makes FedAvg send no evaluate messages).
        super().__init__(fraction_evaluate=0.0, min_train_nodes=1, min_available_nodes=n)
        self.task = task
        self.world = world
        self.policy = policy
        self.callbacks = list(callbacks)
        self.node_of_device: dict[int, int] = {}
        self._round: RoundReport | None = None
        self._sent: dict[str, Any] = {}
        self._previous_outcome: RoundOutcome | None = None
        self.num_examples: np.ndarray | None = None
        self.first_client_error: str | None = None  # the first ClientApp failure of the run
        self.diverged_round: int | None = None  # the round whose global model became non-finite
        self.supernode_timeout_s = supernode_timeout_s

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

        Federated evaluation is off (``fraction_evaluate=0``: Flower's evaluate stage sends
        nothing), so a round is training, aggregation and the server's evaluation. The result's
        ``arrays`` is the global model after the last round, aggregated or not.
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
        """What the strategy carries from round to round: the last outcome (the next observation
        reports it to the policy) and the run's first ClientApp error."""
        previous = self._previous_outcome
        return {"previous_outcome": None if previous is None else previous.state_dict(), "first_client_error": self.first_client_error}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        previous = state["previous_outcome"]
        self._previous_outcome = None if previous is None else RoundOutcome.from_state_dict(previous)
        self.first_client_error = state["first_client_error"]

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
        decision = self.policy.decide(observation).check(observation)
        self._sent = {"round": server_round, "decision": decision, "arrays": arrays}
        messages = []
        for i, device in enumerate(decision.devices):
            node_config = ConfigRecord(
                {
                    **dict(config),
                    "server-round": server_round,
                    "device": int(device),
                    "train-bits": int(decision.train_bits[i]),
                    "uplink-bits": int(decision.uplink_bits[i]),
                    "local-iters": int(decision.local_iters[i]),
                    "devices-per-round": int(decision.devices.size),
                }
            )
            messages.append(
                Message(
                    RecordDict({"arrays": arrays, "config": node_config}),
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
            downlink_bits=self.task.downlink_bits,
            tx_power_w=decision.tx_power_w,
            channel=decision.channel,
        )
        outcome = self.world.simulate_round(plan)
        self._previous_outcome = outcome
        delivered = [bool(ok) and int(d) in by_device for d, ok in zip(selected, outcome.delivered)]
        reasons = [str(r) if int(d) in by_device else CLIENT_ERROR for d, r in zip(selected, outcome.drop_reason)]

        updates, weights, losses = [], [], []
        for i, (device, arrived) in enumerate(zip(selected, delivered)):
            if not arrived:
                continue
            content = by_device[int(device)]
            encoded = record_to_encoded(content["update"], int(decision.uplink_bits[i]))
            update = decode_update(encoded, self.task.update_shapes)
            if not all(np.isfinite(t).all() for t in update):
                # A diverged (or poisoned) client: its NaN/inf must never reach the global model.
                delivered[i], reasons[i] = False, NONFINITE_UPDATE
                continue
            updates.append(update)
            weights.append(float(content["metrics"]["num-examples"]))
            losses.append(float(content["metrics"]["train-loss"]))

        rows, device_metrics = [], []
        for i, device in enumerate(selected):
            content = by_device.get(int(device))
            metrics = {} if content is None else dict(content["metrics"])
            device_metrics.append(metrics)
            rows.append(
                DeviceRow(
                    round=server_round,
                    device=int(device),
                    train_bits=int(decision.train_bits[i]),
                    uplink_bits=int(decision.uplink_bits[i]),
                    payload_bits=int(payload_bits[i]),
                    local_iters=int(decision.local_iters[i]),
                    num_examples=None if content is None else int(metrics["num-examples"]),
                    tx_power_w=float(outcome.tx_power_w[i]),
                    channel=int(outcome.channel[i]),
                    download_s=outcome.download_s,
                    compute_s=float(outcome.compute_s[i]),
                    upload_s=float(outcome.upload_s[i]),
                    finish_s=float(outcome.finish_s[i]),
                    energy_compute_j=float(outcome.energy_compute_j[i]),
                    energy_uplink_j=float(outcome.energy_uplink_j[i]),
                    energy_download_j=float(outcome.energy_download_j[i]),
                    energy_propulsion_j=float(outcome.energy_propulsion_j[i]),
                    channel_gain=float(outcome.channel_gain[i]),
                    distance_m=float(outcome.distance_m[i]),
                    delivered=delivered[i],
                    drop_reason=reasons[i],
                    battery_j=float(outcome.battery_j[i]),
                    x_m=float(outcome.position_m[i, 0]),
                    y_m=float(outcome.position_m[i, 1]),
                    z_m=float(outcome.position_m[i, 2]),
                    train_loss=None if content is None else float(metrics["train-loss"]),
                )
            )
        train_loss = float(np.average(losses, weights=weights)) if updates else None
        self._round = RoundReport(server_round, self.world.now_s, decision, outcome, rows, device_metrics, train_loss)

        if not updates:
            return None, MetricRecord({"delivered": 0})
        global_arrays: ArrayRecord = self._sent["arrays"]
        new_arrays, info = self.task.aggregate(global_arrays, updates, weights)
        self._round.aggregation = info
        if self.diverged_round is None and not all(np.isfinite(a.numpy()).all() for a in new_arrays.values()):
            self.diverged_round = server_round  # finite updates, non-finite sum (e.g. a huge train.lr)
        return new_arrays, MetricRecord({"delivered": len(updates), "train-loss": train_loss})

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

    def summary(self) -> None:  # FedAvg logs its settings here; fedsim prints its own summary.
        return None
