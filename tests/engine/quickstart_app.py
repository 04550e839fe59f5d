"""A plain, quickstart-style Flower 1.41 app (nothing from fedsim): logistic regression on the 8x8
digits, FedAvg from Flower's own strategy. fedsim's tests run it unchanged, plain and in the world.

Run config: ``num-server-rounds`` (default 3), ``payload`` = ``float32`` (default) or ``int8``
(the client sends its weights as int8 codes with one float32 scale per tensor).
"""

from __future__ import annotations

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from sklearn.datasets import load_digits

client_app = ClientApp()
server_app = ServerApp()


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))


def _partition(context: Context):
    x, y = load_digits(return_X_y=True)
    pid, parts = int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])
    idx = np.arange(len(y))[pid::parts]
    return torch.tensor(x[idx] / 16.0, dtype=torch.float32), torch.tensor(y[idx])


def _to_payload(state: dict, payload: str) -> ArrayRecord:
    if payload == "float32":
        return ArrayRecord(state)
    arrays = {}
    for name, tensor in state.items():
        scale = float(tensor.abs().max()) / 127 or 1.0
        arrays[name] = Array(np.round(tensor.numpy() / scale).astype(np.int8))
        arrays[f"{name}.scale"] = Array(np.array([scale], dtype=np.float32))
    return ArrayRecord(arrays)


def _from_payload(record: ArrayRecord) -> dict:
    numpy = {k: v.numpy() for k, v in record.items()}
    if not any(k.endswith(".scale") for k in numpy):
        return {k: torch.tensor(v) for k, v in numpy.items()}
    return {k: torch.tensor(v.astype(np.float32) * numpy[f"{k}.scale"][0]) for k, v in numpy.items() if not k.endswith(".scale")}


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    model = make_model()
    model.load_state_dict(_from_payload(msg.content["arrays"]))
    x, y = _partition(context)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    for _ in range(5):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    payload = str(context.run_config.get("payload", "float32"))
    content = RecordDict({
        "arrays": _to_payload(model.state_dict(), payload),
        "metrics": MetricRecord({"train_loss": float(loss.detach()), "num-examples": len(y)}),
    })
    return Message(content, reply_to=msg)


@client_app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    model = make_model()
    model.load_state_dict(_from_payload(msg.content["arrays"]))
    x, y = _partition(context)
    with torch.no_grad():
        logits = model(x)
    metrics = MetricRecord({
        "eval_loss": float(torch.nn.functional.cross_entropy(logits, y)),
        "eval_acc": float((logits.argmax(1) == y).float().mean()),
        "num-examples": len(y),
    })
    return Message(RecordDict({"metrics": metrics}), reply_to=msg)


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    strategy = FedAvg(fraction_train=0.5, fraction_evaluate=1.0)
    rounds = int(context.run_config.get("num-server-rounds", 3))
    result = strategy.start(grid=grid, initial_arrays=ArrayRecord(make_model().state_dict()), num_rounds=rounds,
                            train_config=ConfigRecord({"lr": 0.5}))
    context.state["final"] = result.arrays  # for tests that read the outcome back
