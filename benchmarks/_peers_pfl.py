"""pfl-research's side of ``benchmarks/peers.py``: FedAvg on arrays fedsim exported, in pfl's own
simulator (``SimulatedBackend``, ``FederatedAveraging``, ``PyTorchModel``).

Run by the peer interpreter (a virtualenv with ``pfl[pytorch]``; this file imports neither fedsim
nor anything of this repository):

    PEER_PYTHON benchmarks/_peers_pfl.py EXPORT.npz

``EXPORT.npz`` (written by ``benchmarks/peers.py``) holds fedsim's train and test arrays, each
device's training indices (``part_index`` cut at ``part_offsets``), the devices fedsim aggregated
in each round (``schedule``, rounds x K), the rows of its data each of its I local steps used
there (``step_rows`` cut at ``step_offsets``, one slice per step in schedule order), the MLP's
initial weights (``init.<state-dict key>``) and the training settings (``settings``, JSON). The
last line printed is one JSON object with the test accuracy after each round (0: the initial model).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pfl.aggregate.simulate import SimulatedBackend
from pfl.aggregate.weighting import WeightByDatapoints
from pfl.algorithm import FederatedAveraging, NNAlgorithmParams
from pfl.callback.central_evaluation import CentralEvaluationCallback
from pfl.data.dataset import Dataset
from pfl.data.federated_dataset import FederatedDataset
from pfl.hyperparam import NNEvalHyperParams, NNTrainHyperParams
from pfl.metrics import Metrics, Weighted
from pfl.model.pytorch import PyTorchModel


class MLP(nn.Module):
    """fedsim's digits MLP at 32 bits: Flatten, then Linear+ReLU per hidden width, then a Linear
    head; the layer indices match fedsim's ``net.<i>`` state-dict keys, so its initial weights
    load strictly. ``loss`` and ``metrics`` are what pfl's ``PyTorchModel`` calls."""

    def __init__(self, widths: list[int]):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        for w_in, w_out in zip(widths[:-2], widths[1:-1]):
            layers += [nn.Linear(w_in, w_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-2], widths[-1]))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.train()
        return F.cross_entropy(self(x), y)

    @torch.no_grad()
    def metrics(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        self.eval()
        logits = self(x)
        n = len(y)
        return {"loss": Weighted(float(F.cross_entropy(logits, y, reduction="sum")), n),
                "accuracy": Weighted(int((logits.argmax(1) == y).sum()), n)}


class FedsimBatches(Dataset):
    """A device's data served in the batches fedsim's local SGD drew for this round (exported:
    rows of the device's data per step), so pfl's ``local_num_steps`` steps see fedsim's examples
    in fedsim's order. pfl's own ``Dataset`` yields one unshuffled pass, which would also cut a
    device holding fewer than I x B examples short of I steps. Any other batch size (pfl's
    per-user evaluation) reads one pass, as pfl's ``Dataset`` does."""

    def __init__(self, raw_data, user_id, batches: list, batch_size: int):
        super().__init__(raw_data, user_id=user_id)
        self._steps, self._batch_size = batches, batch_size

    def iter(self, batch_size):  # noqa: A003 (pfl's name)
        if batch_size != self._batch_size:
            yield from super().iter(batch_size)
            return
        x, y = self.raw_data
        for rows in self._steps:
            yield [x[rows], y[rows]]


class ScheduleSampler:
    """Replays the devices fedsim aggregated, round by round (pfl's ``user_sampler`` is a
    callable that returns the next user id)."""

    def __init__(self, schedule: np.ndarray):
        self._ids = iter(schedule.reshape(-1).tolist())

    def __call__(self) -> int:
        return next(self._ids)


class AccuracyLog(CentralEvaluationCallback):
    """pfl's central evaluation after every round, as fedsim evaluates (pfl's own callback skips
    the round after its start-of-training evaluation), keeping each round's test accuracy."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.accuracies: list[float] = []  # round 0 (initial model), 1, ..., R

    def _keep(self, metrics):
        (value,) = [v for name, v in metrics if str(name) == "Central val | accuracy"]
        self.accuracies.append(float(value.overall_value if hasattr(value, "overall_value") else value))
        return metrics

    def on_train_begin(self, *, model):
        return self._keep(super().on_train_begin(model=model))

    def after_central_iteration(self, aggregate_metrics, model, *, central_iteration):
        stop, metrics = self._eval(model)
        self._keep(metrics)
        # pfl reports the start-of-training evaluation within iteration 0's metrics: the same names
        return stop, Metrics() if central_iteration == 0 else metrics


def main(path: str) -> None:
    export = np.load(path, allow_pickle=False)
    settings = json.loads(str(export["settings"]))
    torch.set_num_threads(settings["torch_threads"])
    np.random.seed(settings["seed"])
    torch.manual_seed(settings["seed"])

    x_train, y_train = torch.from_numpy(export["x_train"]), torch.from_numpy(export["y_train"])
    offsets, index = export["part_offsets"], export["part_index"]
    schedule = export["schedule"]
    rounds, cohort = schedule.shape
    step_rows, step_offsets = torch.from_numpy(export["step_rows"]), export["step_offsets"]
    iters = settings["local_iters"]
    visits = iter(range(schedule.size))  # pfl makes each cohort's datasets in the sampler's order

    def make_dataset(device: int) -> Dataset:
        rows = torch.from_numpy(index[offsets[device] : offsets[device + 1]])
        first = next(visits) * iters
        steps = [step_rows[step_offsets[i] : step_offsets[i + 1]] for i in range(first, first + iters)]
        return FedsimBatches([x_train[rows], y_train[rows]], user_id=device, batches=steps, batch_size=settings["batch_size"])

    init = {key[len("init."):]: torch.from_numpy(export[key]) for key in export.files if key.startswith("init.")}
    layers = sorted((k for k in init if k.endswith(".weight")), key=lambda k: int(k.split(".")[1]))  # net.<i>.weight
    widths = [int(np.prod(export["x_train"].shape[1:]))] + [int(init[k].shape[0]) for k in layers]
    module = MLP(widths)
    module.load_state_dict(init, strict=True)
    model = PyTorchModel(
        model=module,
        local_optimizer_create=lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=settings["momentum"]),
        central_optimizer=torch.optim.SGD(module.parameters(), lr=1.0),  # w += the weighted mean update: FedAvg
    )
    train_data = FederatedDataset(make_dataset, ScheduleSampler(schedule))
    test = Dataset([torch.from_numpy(export["x_test"]), torch.from_numpy(export["y_test"])])
    backend = SimulatedBackend(training_data=train_data, val_data=None, postprocessors=[WeightByDatapoints()])
    eval_params = NNEvalHyperParams(local_batch_size=settings["eval_batch_size"])
    log = AccuracyLog(test, model_eval_params=eval_params, frequency=1)
    FederatedAveraging().run(
        algorithm_params=NNAlgorithmParams(
            central_num_iterations=rounds,
            evaluation_frequency=rounds,  # per-user before/after metrics only in round 0 (fedsim computes none)
            train_cohort_size=cohort,
            val_cohort_size=None,
        ),
        backend=backend,
        model=model,
        model_train_params=NNTrainHyperParams(
            local_num_epochs=None, local_num_steps=settings["local_iters"],
            local_learning_rate=settings["lr"], local_batch_size=settings["batch_size"],
        ),
        model_eval_params=eval_params,
        callbacks=[log],
    )
    import pfl

    print(json.dumps({"accuracies": log.accuracies, "rounds": rounds,
                      "torch_threads": torch.get_num_threads(), "pfl_version": getattr(pfl, "__version__", None)}))


if __name__ == "__main__":
    main(sys.argv[1])
