"""The quantized classifier task: a QNN trained at precision n on partitioned labelled data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property

import numpy as np
import torch
from flwr.app import ArrayRecord
from torch import nn

from ..config import OperatingPoint
from ..data import DataSplit, Dataset, load_dataset, partition
from ..data._names import DATASET_SHAPES
from ..errors import DataError
from ..qnn import build_model, profile_model
from ..torch_rng import torch_stream
from ..workload import Workload
from ._cohort_training import STACKED, cohort_route, cohort_unsupported, train_cohort
from ._local_training import evaluate, train_locally
from ._optimizer import optimizer_part
from ._records import load_record, model_to_record, record_to_numpy, update_from_model
from ._client_side import PLAIN, ClientSide
from ._task import LocalResult, Task


class ClassifierTask(Task):
    @cached_property
    def data(self) -> DataSplit:
        ds = self.config.dataset
        return load_dataset(
            ds.name, path=ds.path, download=ds.download, test_fraction=ds.test_fraction, seed=self.config.seed,
            hf_name=ds.hf_name, image_key=ds.image_key, label_key=ds.label_key, client_key=ds.client_key,
            train_split=ds.train_split, test_split=ds.test_split, channels_last=ds.channels_last, max_clients=ds.max_clients,
        )

    @cached_property
    def partitions(self) -> list[np.ndarray]:
        p = self.config.partition
        return partition(
            self.data.train.y,
            self.config.world.num_devices,
            p.kind,
            self.config.seed,
            alpha=p.alpha,
            shards_per_device=p.shards_per_device,
            classes_per_device=p.classes_per_device,
            min_partition_size=p.min_partition_size,
            client_ids=self.data.train.client_ids,
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape, (C, H, W), (D,) or (L,): declared by a built-in dataset (known
        without loading it), else read from the loaded data."""
        declared = DATASET_SHAPES.get(self.config.dataset.name)
        return declared[0] if declared else self.data.train.input_shape

    @property
    def num_classes(self) -> int:
        declared = DATASET_SHAPES.get(self.config.dataset.name)
        return declared[1] if declared else self.data.train.num_classes

    @property
    def vocab_size(self) -> int | None:
        """Token inputs' vocabulary (None for images and features)."""
        return self.data.train.vocab_size if self.config.dataset.name not in DATASET_SHAPES else None

    def prepare(self) -> None:
        """Load the data and check it is what the model is built for (before any file is written)."""
        train = self.data.train
        if (train.input_shape, train.num_classes) != (self.input_shape, self.num_classes):
            raise DataError(
                f"{self.config.dataset.name} at {self.config.dataset.path}: inputs of shape {train.input_shape} "
                f"with {train.num_classes} classes; expected {self.input_shape} with {self.num_classes}"
            )
        self.partitions  # the partition's own checks (enough samples for every device and shard)
        super().prepare()

    def device_data(self, device: int) -> Dataset:
        return self.data.train.subset(self.partitions[device])

    def new_model(self) -> nn.Module:
        """The model at its seeded initial weights."""
        m = self.config.model
        return build_model(
            m.name, self.input_shape, self.num_classes, seed=self.config.seed, hidden=tuple(m.hidden),
            vocab_size=self.vocab_size, target=m.target, kwargs=m.kwargs,
        )

    @cached_property
    def scratch_model(self) -> nn.Module:
        """A model instance reused for local training in this process (weights overwritten each time)."""
        return self.new_model()

    # -- Task --------------------------------------------------------------------------------
    def initial_record(self) -> ArrayRecord:
        return model_to_record(self.new_model())

    @cached_property
    def update_keys(self) -> list[str]:
        """Floating-point parameters and BatchNorm statistics (integer buffers stay server-side)."""
        return [k for k, v in self.scratch_model.state_dict().items() if torch.is_floating_point(v)]

    def num_examples(self, device: int) -> int:
        return len(self.partitions[device])

    def local_update(self, record: ArrayRecord, device: int, server_round: int, op: OperatingPoint, client: ClientSide = PLAIN) -> LocalResult:
        model = self.scratch_model
        load_record(model, record)
        global_arrays = record_to_numpy(record, self.update_keys)
        data = self.device_data(device)
        train = self.config.train
        gradients = {} if client.scaffold else None
        loss = train_locally(
            model,
            data,
            generator=self._local_stream(device, server_round),
            optimizer=train.optimizer or "sgd",
            mkor_inv_freq=train.mkor_inv_freq,
            proximal_mu=client.proximal_mu,
            gradient_correction=self._correction(client),
            gradient_sum=gradients,
            **self._sgd_settings(op),
        )
        mean_gradient = None
        if gradients is not None:  # zeros for entries no step moves (BatchNorm statistics)
            mean_gradient = [(gradients[k] / op.local_iters).numpy() if k in gradients else np.zeros_like(g)
                             for k, g in zip(self.update_keys, global_arrays)]
        return LocalResult(update_from_model(model, global_arrays, self.update_keys), len(data), loss, mean_gradient=mean_gradient)

    def _correction(self, client: ClientSide) -> dict[str, torch.Tensor] | None:
        """SCAFFOLD's c - c_i by parameter name (the update entries that are parameters)."""
        if client.correction is None:
            return None
        return {k: torch.from_numpy(np.asarray(c, dtype=np.float32)) for k, c in zip(self.update_keys, client.correction)}

    def _sgd_settings(self, op: OperatingPoint) -> dict:
        """The local steps' settings both engines train with."""
        train = self.config.train
        return dict(iterations=op.local_iters, batch_size=train.batch_size, lr=train.lr, momentum=train.momentum,
                    train_bits=op.train_bits, rounding=train.rounding)

    def _local_stream(self, device: int, server_round: int) -> torch.Generator:
        return torch_stream(self.config.seed, "local-training", device, server_round)

    def cohort_unsupported(self) -> str | None:
        """The optimizer's reason, else the model's (torch.func tried on a few training examples)."""
        return cohort_unsupported(self.config.train.optimizer or "sgd", self.scratch_model, self.data.train)

    def local_updates(self, record: ArrayRecord, devices: Sequence[int], server_round: int, op: OperatingPoint, client: ClientSide = PLAIN,
                      corrections: Sequence[Sequence[np.ndarray]] | None = None) -> list[LocalResult]:
        """The devices' local updates trained together (``train_cohort``), each as ``local_update``
        computes it; ``corrections`` are SCAFFOLD's c - c_i of each device (update-key order)."""
        if self.cohort_unsupported() is not None or (corrections is not None and cohort_route(self.scratch_model) != STACKED):
            if corrections is None:
                return super().local_updates(record, devices, server_round, op, client)
            return [self.local_update(record, d, server_round, op, replace(client, correction=tuple(c))) for d, c in zip(devices, corrections)]
        model = self.scratch_model
        load_record(model, record)
        global_arrays = record_to_numpy(record, self.update_keys)
        datasets = [self.device_data(device) for device in devices]
        stacked_corrections = None
        if corrections is not None:
            parameters = {name for name, _ in model.named_parameters()}
            stacked_corrections = {k: torch.from_numpy(np.stack([np.asarray(c[i], dtype=np.float32) for c in corrections]))
                                   for i, k in enumerate(self.update_keys) if k in parameters}
        trained = train_cohort(
            model, datasets, generators=[self._local_stream(device, server_round) for device in devices], proximal_mu=client.proximal_mu,
            corrections=stacked_corrections, gradient_sums=corrections is not None, **self._sgd_settings(op),
        )
        # Δw of every device at once: (K, *shape) per update key, each device's a view of its slice
        deltas = [trained.states[k].numpy() - g for k, g in zip(self.update_keys, global_arrays)]
        means = None
        if corrections is not None:  # zeros for entries no step moves (BatchNorm statistics)
            sums = trained.gradient_sums
            means = [(sums[k] / op.local_iters).numpy() if k in sums else np.zeros((len(devices), *g.shape), g.dtype)
                     for k, g in zip(self.update_keys, global_arrays)]
        return [
            LocalResult([d[j] for d in deltas], len(data), loss, mean_gradient=None if means is None else [m[j] for m in means])
            for j, (data, loss) in enumerate(zip(datasets, trained.losses))
        ]

    @cached_property
    def _eval_model(self) -> nn.Module:
        return self.new_model()

    def evaluate(self, record: ArrayRecord, op: OperatingPoint) -> dict[str, float]:
        load_record(self._eval_model, record)
        loss, accuracy = evaluate(self._eval_model, self.data.test, bits=op.train_bits, batch_size=self.config.eval_batch_size)
        return {"loss": loss, "accuracy": accuracy}

    def evaluate_device(self, record: ArrayRecord, device: int, op: OperatingPoint) -> dict[str, float]:
        load_record(self.scratch_model, record)
        loss, accuracy = evaluate(self.scratch_model, self.device_data(device), bits=op.train_bits)
        return {"loss": loss, "accuracy": accuracy}

    # -- World ------------------------------------------------------------------------------
    @cached_property
    def workload_parts(self) -> list[tuple[Workload, int | None]]:
        """Measured from the model unless the config gives a paper's numbers."""
        e = self.config.devices.energy
        given = (e.params, e.macs, e.activations, e.input_size)
        if all(v is not None for v in given):  # a paper's constants: no model (or data) needed
            return [(Workload(params=e.params, macs=e.macs, activations=e.activations, input_size=e.input_size), None)]
        measured = profile_model(self.new_model(), self.input_shape, tokens=self.vocab_size is not None)
        workload = Workload(
            params=e.params if e.params is not None else measured.params,
            macs=e.macs if e.macs is not None else measured.macs,
            activations=e.activations if e.activations is not None else measured.activations,
            input_size=e.input_size if e.input_size is not None else measured.input_size,
            # measured with the forward it belongs to; a given forward keeps the papers' 2x
            backward_macs=measured.backward_macs if e.macs is None else None,
        )
        train = self.config.train
        optimizer = optimizer_part(train.optimizer or "sgd", self.new_model(), train.batch_size, train.mkor_inv_freq)
        return [(workload, None)] + ([optimizer] if optimizer else [])

    @property
    def downlink_bits(self) -> float:
        return float(32 * self.workload.params)  # the float32 global model
