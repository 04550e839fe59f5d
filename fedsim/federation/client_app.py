"""The fedsim ClientApp: a device that trains its task locally and uploads an m-bit update.

Handlers (Flower Message API):
- ``query``: tells the server which data partition (device) this node holds, because Flower's
  node ids are random per run;
- ``train``: runs the task's local update from the received global state at the operating point
  in the message's ConfigRecord, and uploads Δ packed at m bits;
- ``evaluate``: the task's metrics of the received state on the local data.

All randomness is drawn from (seed, purpose, device, round) streams, so the reply does not
depend on which process or engine runs the client.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from ..config import OperatingPoint
from ..errors import ConfigError
from ..rng import numpy_stream
from ..uplink import EncodedUpdate, encode_update, encode_updates
from ..world import DeviceFaults, InjectedFaultError
from ..world._faults import attacked
from flwr.app import Array, ArrayRecord
from flwr.common.constant import SType

from ..tasks import ClientSide, LocalResult, Task
from ..tasks._client_side import LOSS_AT_GLOBAL
from ..tasks._records import CODES_KEY, SCALES_KEY, encoded_to_record
from ..tasks._task import BYZANTINE_COLUMN
from ._job import task_from_run_config

app = ClientApp()

PARTITION_ID = "partition-id"
NUM_PARTITIONS = "num-partitions"


def _node_config_int(context: Context, key: str) -> int:
    """A SuperNode's ``--node-config`` value (the simulation engine sets both keys itself)."""
    value = context.node_config.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, value, f'an integer in the SuperNode\'s node config, e.g. --node-config "{PARTITION_ID}=0 {NUM_PARTITIONS}=N"')
    return value


def device_of(context: Context) -> int:
    """The device (partition id) a node trains for, from its node config."""
    return _node_config_int(context, PARTITION_ID)


def operating_point(config: ConfigRecord) -> OperatingPoint:
    """The operating point a server sent in a node's ConfigRecord."""
    return OperatingPoint(
        train_bits=int(config["train-bits"]),
        uplink_bits=int(config["uplink-bits"]),
        local_iters=int(config["local-iters"]),
        devices_per_round=int(config.get("devices-per-round", 1)),
    )


@app.query()
def describe(msg: Message, context: Context) -> Message:
    task = task_from_run_config(context.run_config)
    device, n = device_of(context), task.config.world.num_devices
    if not 0 <= device < n:
        raise ConfigError(PARTITION_ID, device, f"a partition in [0, {n - 1}] (world.num_devices={n})")
    record = {"device": device, "num-partitions": _node_config_int(context, NUM_PARTITIONS), "num-examples": task.num_examples(device)}
    content = RecordDict({"device": ConfigRecord(record)})
    return Message(content, reply_to=msg)


def local_update(task: Task, device: int, msg: Message, state: RecordDict | None = None) -> RecordDict:
    """Train on ``device``'s data as the message's config says; return the reply content.

    Injected faults (``faults.*``) strike here: a crash raises ``InjectedFaultError`` (the engine
    turns it into an error reply), a non-finite fault uploads NaN and inf, a Byzantine device an
    attacked update (``faults.attack``).
    """
    request = train_request(task, device, msg)
    if request.client.scaffold:  # control variates: the device's own kept in its state
        from ._scaffold_client import scaffold_update

        return scaffold_update(task, request, msg, RecordDict() if state is None else state, train_reply)
    result = task.local_update(request.record, device, request.server_round, request.op, request.client)
    return train_reply(task, request, result)


@dataclass(frozen=True)
class TrainRequest:
    """What a TRAIN message asks of one device, with the faults drawn for it this round."""

    device: int
    server_round: int
    op: OperatingPoint
    faults: DeviceFaults
    client: ClientSide  # the strategy's client side, from the config
    record: ArrayRecord  # the global state received


def train_request(task: Task, device: int, msg: Message) -> TrainRequest:
    """Read a TRAIN message; an injected crash raises ``InjectedFaultError`` here, before training."""
    cfg = msg.content["config"]
    server_round = int(cfg["server-round"])
    faults = task.config.faults.draw(task.config.seed, server_round, device)
    if faults.crash:
        raise InjectedFaultError(f"injected crash of device {device} in round {server_round} (faults.client_crash_prob={task.config.faults.client_crash_prob:g})")
    return TrainRequest(device, server_round, operating_point(cfg), faults, ClientSide.from_config(cfg), msg.content["arrays"])


def train_reply(task: Task, request: TrainRequest, result: LocalResult) -> RecordDict:
    """The reply content of a trained device: its update packed at m bits and its metrics (every
    engine builds replies here or in :func:`train_replies`, so they do not depend on how the
    training ran)."""
    update, extra = _uploaded(task, request, result)
    encoded = encode_update(update, request.op.uplink_bits, numpy_stream(task.config.seed, "uplink-quantizer", request.device, request.server_round))
    return _reply_content(request, result, encoded, extra, encoded_to_record(encoded))


def train_replies(task: Task, requests: Sequence[TrainRequest], results: Sequence[LocalResult]) -> list[RecordDict]:
    """``train_reply`` of each device, the updates of one uplink precision encoded together
    (``encode_updates``: the same bytes) and their records built from one .npy header."""
    uploads = [_uploaded(task, request, result) for request, result in zip(requests, results, strict=True)]
    by_bits: dict[int, list[int]] = {}
    for index, request in enumerate(requests):
        by_bits.setdefault(request.op.uplink_bits, []).append(index)
    encoded: dict[int, EncodedUpdate] = {}
    for bits, members in by_bits.items():
        streams = [numpy_stream(task.config.seed, "uplink-quantizer", requests[i].device, requests[i].server_round) for i in members]
        encoded.update(zip(members, encode_updates([uploads[i][0] for i in members], bits, streams), strict=True))
    return [_reply_content(request, result, encoded[i], uploads[i][1], _npy_record(encoded[i]))
            for i, (request, result) in enumerate(zip(requests, results))]


def _uploaded(task: Task, request: TrainRequest, result: LocalResult) -> tuple[list[np.ndarray], dict]:
    """The update a device uploads (attacked, poisoned: its injected faults) and its extra metrics."""
    device, server_round, op = request.device, request.server_round, request.op
    faults = task.config.faults
    update = result.update
    extra = {}
    if faults.byzantine_prob > 0:  # the ledger's byzantine column; absent otherwise (replies unchanged)
        extra[BYZANTINE_COLUMN.name] = int(request.faults.byzantine)
    if request.faults.byzantine:
        update = attacked(update, faults.attack, faults.attack_scale, numpy_stream(task.config.seed, "byzantine", device, server_round))
    if request.faults.nonfinite:
        update = poisoned(update)
    if request.client.loss_at_global:  # q-FedAvg: F_k(w^t), the local loss before training
        extra[LOSS_AT_GLOBAL] = float(task.evaluate_device(request.record, device, op)["loss"])
    return update, extra


def _reply_content(request: TrainRequest, result: LocalResult, encoded: EncodedUpdate, extra: dict, record: ArrayRecord) -> RecordDict:
    metrics = MetricRecord(
        {
            "num-examples": result.num_examples,
            "train-loss": result.train_loss,
            "device": request.device,
            "payload-bits": encoded.payload_bits,
            **result.metrics,
            **extra,
        }
    )
    return RecordDict({"update": record, "metrics": metrics})


_NPY_HEADERS: dict[tuple[str, tuple[int, ...]], tuple[bytes, str]] = {}


def _npy_array(values: np.ndarray) -> Array:
    """``Array(values)``, the same .npy bytes, with the header built once per dtype and shape
    (``np.save`` per array costs more than a small update's data)."""
    if not values.flags.c_contiguous:
        values = np.ascontiguousarray(values)
    key = (values.dtype.str, values.shape)
    known = _NPY_HEADERS.get(key)
    if known is None:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(values))
        known = _NPY_HEADERS[key] = (header.getvalue(), str(values.dtype))
    header, dtype = known
    return Array(dtype, values.shape, SType.NUMPY, b"".join((header, values.data)))


def _npy_record(encoded: EncodedUpdate) -> ArrayRecord:
    """``encoded_to_record(encoded)``, its arrays by :func:`_npy_array`."""
    record = ArrayRecord()
    record[CODES_KEY] = _npy_array(encoded.codes)
    record[SCALES_KEY] = _npy_array(encoded.scales)
    return record


def poisoned(update: list[np.ndarray]) -> list[np.ndarray]:
    """The update of a diverged client: its first entry NaN, its last +inf (a copy)."""
    out = [np.array(t, dtype=np.float32, copy=True) for t in update]
    if out and out[0].size:
        out[0].flat[0] = np.nan
    if out and out[-1].size:
        out[-1].flat[-1] = np.inf
    return out


@app.train()
def train(msg: Message, context: Context) -> Message:
    task = task_from_run_config(context.run_config)
    return Message(local_update(task, device_of(context), msg, context.state), reply_to=msg)


@app.evaluate()
def evaluate_local(msg: Message, context: Context) -> Message:
    task = task_from_run_config(context.run_config)
    device = device_of(context)
    op = operating_point(msg.content["config"])
    metrics = task.evaluate_device(msg.content["arrays"], device, op)
    reply = MetricRecord({"num-examples": task.num_examples(device), **metrics})
    return Message(RecordDict({"metrics": reply}), reply_to=msg)
