"""fedsim's test fixture: Flower apps that fail in each way a new user's app can.

``server_app`` is a plain FedAvg ServerApp; ``raising_client`` raises in every call,
``no_arrays_client`` replies to training without arrays, ``numpy_client`` trains without torch
(so nothing can count its MACs), ``raising_server`` is a ServerApp that raises.
"""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

server_app = ServerApp()
raising_client = ClientApp()
no_arrays_client = ClientApp()
numpy_client = ClientApp()
raising_server = ServerApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    arrays = ArrayRecord({"w": Array(np.zeros((4, 3), dtype=np.float32))})
    FedAvg(fraction_evaluate=0.0).start(grid=grid, initial_arrays=arrays, num_rounds=int(context.run_config.get("num-server-rounds", 1)))


@raising_client.train()
def raising_train(msg: Message, context: Context) -> Message:
    raise ValueError(f"partition {context.node_config['partition-id']} has no data\nmore detail on a second line")


@no_arrays_client.train()
def no_arrays_train(msg: Message, context: Context) -> Message:
    return Message(RecordDict({"metrics": MetricRecord({"num-examples": 10})}), reply_to=msg)


@numpy_client.train()
def numpy_train(msg: Message, context: Context) -> Message:
    record = msg.content["arrays"]
    updated = ArrayRecord({k: Array(v.numpy() + 0.1) for k, v in record.items()})
    return Message(RecordDict({"arrays": updated, "metrics": MetricRecord({"num-examples": 10})}), reply_to=msg)


@raising_server.main()
def raising_main(grid: Grid, context: Context) -> None:
    raise KeyError("num-server-rounds")
