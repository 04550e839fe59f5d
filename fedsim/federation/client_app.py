"""The fedsim ClientApp: a device that trains a quantized model and uploads an m-bit update.

Handlers (Flower Message API):
- ``query``: tells the server which data partition (device) this node holds, because Flower's
  node ids are random per run;
- ``train``: loads the global model, runs I local iterations at precision n, uploads Δw packed
  at m bits;
- ``evaluate``: accuracy of the received model on the local data.

All randomness is drawn from (seed, purpose, device, round) streams, so the reply does not
depend on which process or engine runs the client.
"""

from __future__ import annotations

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from ..rng import numpy_stream, torch_stream
from ..uplink import encode_update
from ._job import Job, job_from_run_config
from ._local_training import evaluate, train_locally
from ._records import encoded_to_record, load_record, record_to_numpy, update_from_model

app = ClientApp()

PARTITION_ID = "partition-id"


def _device_of(context: Context) -> int:
    return int(context.node_config[PARTITION_ID])


@app.query()
def describe(msg: Message, context: Context) -> Message:
    job = job_from_run_config(context.run_config)
    device = _device_of(context)
    content = RecordDict(
        {"device": ConfigRecord({"device": device, "num-examples": len(job.partitions[device])})}
    )
    return Message(content, reply_to=msg)


def local_update(job: Job, device: int, msg: Message) -> RecordDict:
    """Train on ``device``'s data as the message's config says; return the reply content."""
    cfg = msg.content["config"]
    server_round = int(cfg["server-round"])
    train_bits = int(cfg["train-bits"])
    uplink_bits = int(cfg["uplink-bits"])
    local_iters = int(cfg["local-iters"])
    seed = job.config.seed
    train = job.config.train

    global_record = msg.content["arrays"]
    model = job.scratch_model
    load_record(model, global_record)
    global_arrays = record_to_numpy(global_record, job.update_keys)
    data = job.device_data(device)
    loss = train_locally(
        model,
        data,
        iterations=local_iters,
        batch_size=train.batch_size,
        lr=train.lr,
        momentum=train.momentum,
        train_bits=train_bits,
        rounding=train.rounding,
        generator=torch_stream(seed, "local-training", device, server_round),
    )
    update = update_from_model(model, global_arrays, job.update_keys)
    encoded = encode_update(update, uplink_bits, numpy_stream(seed, "uplink-quantizer", device, server_round))
    metrics = MetricRecord(
        {
            "num-examples": len(data),
            "train-loss": loss,
            "device": device,
            "payload-bits": encoded.payload_bits,
        }
    )
    return RecordDict({"update": encoded_to_record(encoded), "metrics": metrics})


@app.train()
def train(msg: Message, context: Context) -> Message:
    job = job_from_run_config(context.run_config)
    return Message(local_update(job, _device_of(context), msg), reply_to=msg)


@app.evaluate()
def evaluate_local(msg: Message, context: Context) -> Message:
    job = job_from_run_config(context.run_config)
    device = _device_of(context)
    model = job.scratch_model
    load_record(model, msg.content["arrays"])
    bits = int(msg.content["config"].get("train-bits", 32))
    loss, accuracy = evaluate(model, job.device_data(device), bits=bits)
    data_size = len(job.partitions[device])
    metrics = MetricRecord({"num-examples": data_size, "loss": loss, "accuracy": accuracy})
    return Message(RecordDict({"metrics": metrics}), reply_to=msg)
