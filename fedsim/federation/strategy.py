"""QuantizedFedAvg: Flower's FedAvg with fedsim's sampling, per-node operating points and the World.

Per round (``Strategy.start`` owns the loop):
- ``configure_train`` samples K of N devices with fedsim's seeded generator and sends each node
  the global model and its own ``ConfigRecord`` (train bits n, uplink bits m, local iterations I);
- ``aggregate_train`` asks the World what each upload cost and whether it arrived, decodes the
  delivered m-bit payloads, and adds their example-weighted average to the global model.
The round's physics and device rows are left in ``last_round`` for the server to put in the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from ..config import OperatingPoint
from ..uplink import decode_update
from ..world import RoundOutcome, RoundPlan, World
from ._aggregate import sample_devices
from ._task import Task
from ._records import record_to_encoded


@dataclass
class RoundReport:
    """What happened in one round, before the server's evaluation."""

    server_round: int
    op: OperatingPoint
    outcome: RoundOutcome
    device_rows: list[dict[str, Any]] = field(default_factory=list)
    train_loss: float = float("nan")
    aggregation: dict[str, Any] = field(default_factory=dict)  # e.g. the factor-averaging error


class QuantizedFedAvg(FedAvg):
    def __init__(self, task: Task, world: World) -> None:
        n = task.config.world.num_devices
        # Test accuracy for the ledger is measured by the server on the test set, so federated
        # evaluation is off (fraction_evaluate=0 makes FedAvg send no evaluate messages).
        super().__init__(fraction_evaluate=0.0, min_train_nodes=1, min_available_nodes=n)
        self.task = task
        self.world = world
        self.node_of_device: dict[int, int] = {}
        self.last_round: RoundReport | None = None
        self._sent: dict[str, Any] = {}

    # -- operating point -------------------------------------------------------------------
    def operating_point(self, server_round: int) -> OperatingPoint:
        """The operating point of a round. Fixed for now; controllers will override this."""
        return self.task.config.op

    # -- device discovery ------------------------------------------------------------------
    def discover_devices(self, grid: Grid) -> None:
        """Ask every node which partition it holds (node ids are random under Flower)."""
        queries = [
            Message(RecordDict({"config": ConfigRecord({})}), dst_node_id=node, message_type=MessageType.QUERY)
            for node in grid.get_node_ids()
        ]
        mapping = {}
        for reply in grid.send_and_receive(queries):
            if reply.has_error():
                continue
            mapping[int(reply.content["device"]["device"])] = reply.metadata.src_node_id
        self.node_of_device = dict(sorted(mapping.items()))

    # -- training --------------------------------------------------------------------------
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        if not self.node_of_device:
            self.discover_devices(grid)
        op = self.operating_point(server_round)
        # Only devices the world says can take part (charged batteries) and Flower can reach.
        available = sorted(set(self.world.available_devices().tolist()) & set(self.node_of_device))
        devices = sample_devices(self.task.config.seed, server_round, available, op.devices_per_round)
        self._sent = {"round": server_round, "op": op, "devices": devices, "arrays": arrays}
        messages = []
        for device in devices:
            node_config = ConfigRecord(
                {
                    **dict(config),
                    "server-round": server_round,
                    "device": int(device),
                    "train-bits": op.train_bits,
                    "uplink-bits": op.uplink_bits,
                    "local-iters": op.local_iters,
                    "devices-per-round": op.devices_per_round,
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
        op: OperatingPoint = self._sent["op"]
        selected: np.ndarray = self._sent["devices"]
        by_device = {}
        for reply in replies:
            if not reply.has_error():
                by_device[int(reply.content["metrics"]["device"])] = reply.content
        # A device whose reply failed sends nothing: zero bits, and it cannot be delivered.
        payload_bits = np.array(
            [by_device[d]["metrics"]["payload-bits"] if d in by_device else 0 for d in selected], dtype=np.int64
        )
        k = len(selected)
        plan = RoundPlan(
            round=server_round,
            devices=selected,
            local_iters=np.full(k, op.local_iters),
            train_bits=np.full(k, op.train_bits),
            uplink_bits=payload_bits,
            downlink_bits=self.task.downlink_bits,
        )
        outcome = self.world.simulate_round(plan)
        delivered = [bool(ok) and int(d) in by_device for d, ok in zip(selected, outcome.delivered)]

        updates, weights, losses = [], [], []
        for device, arrived in zip(selected, delivered):
            if not arrived:
                continue
            content = by_device[int(device)]
            encoded = record_to_encoded(content["update"], op.uplink_bits)
            updates.append(decode_update(encoded, self.task.update_shapes))
            weights.append(float(content["metrics"]["num-examples"]))
            losses.append(float(content["metrics"]["train-loss"]))

        rows = []
        for i, device in enumerate(selected):
            content = by_device.get(int(device))
            rows.append(
                {
                    "round": server_round,
                    "device": int(device),
                    "train_bits": op.train_bits,
                    "uplink_bits": op.uplink_bits,
                    "payload_bits": int(payload_bits[i]),
                    "local_iters": op.local_iters,
                    "num_examples": None if content is None else int(content["metrics"]["num-examples"]),
                    "download_s": outcome.download_s,
                    "compute_s": float(outcome.compute_s[i]),
                    "upload_s": float(outcome.upload_s[i]),
                    "energy_compute_j": float(outcome.energy_compute_j[i]),
                    "energy_uplink_j": float(outcome.energy_uplink_j[i]),
                    "energy_download_j": float(outcome.energy_download_j[i]),
                    "energy_propulsion_j": float(outcome.energy_propulsion_j[i]),
                    "finish_s": float(outcome.finish_s[i]),
                    "channel_gain": float(outcome.channel_gain[i]),
                    "distance_m": float(outcome.distance_m[i]),
                    "delivered": delivered[i],
                    "drop_reason": str(outcome.drop_reason[i]) if content is not None else "client_error",
                    "battery_j": float(outcome.battery_j[i]),
                    "x_m": float(outcome.position_m[i, 0]),
                    "y_m": float(outcome.position_m[i, 1]),
                    "z_m": float(outcome.position_m[i, 2]),
                    "train_loss": None if content is None else float(content["metrics"]["train-loss"]),
                    "memory_bytes": None if content is None else content["metrics"].get("memory-bytes"),
                }
            )
        train_loss = float(np.average(losses, weights=weights)) if updates else float("nan")
        self.last_round = RoundReport(server_round, op, outcome, rows, train_loss)

        if not updates:
            return None, MetricRecord({"delivered": 0})
        global_arrays: ArrayRecord = self._sent["arrays"]
        new_arrays, info = self.task.aggregate(global_arrays, updates, weights)
        self.last_round.aggregation = info
        return new_arrays, MetricRecord({"delivered": len(updates), "train-loss": train_loss})

    def summary(self) -> None:  # FedAvg logs its settings here; fedsim prints its own summary.
        return None
