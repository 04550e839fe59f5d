"""Local SGD of a cohort: a round's clients train together, vmapped over stacked parameters.

``train_cohort`` computes what ``train_locally`` computes for each client, for many clients at
once: ``torch.func.vmap(grad(loss of functional_call))`` over per-client copies of the global
parameters stacked on a leading axis, with each client's own mini-batches and stochastic
rounding. Each client's torch stream is consumed exactly as the sequential engine consumes it
(a permutation of its data, then per step a reshuffle when the pass is over and the quantizer's
U[0, 1) draws in forward order), before the vmapped steps; the drawn noise is then fed to the
quantizers through ``Precision.noise_source``. So the batches and the noise are the sequential
engine's, bit for bit; what differs is only the floating-point order of the batched kernels
(updates agree to ~1e-15 relative in float64).

A step's shorter batches (a client's last batch of a pass, a smaller partition) are padded with
zero rows of zero loss weight, so all clients stack into one vmapped program; a model with
BatchNorm, whose batch statistics would see the padding, runs one program per distinct sequence
of batch sizes instead.

Any model (``model=custom`` too) is first tried on a few examples (``cohort_unsupported``): one
that torch.func cannot train this way (Dropout's random draws, an LSTM's kernel without a
batching rule, examples of a batch that see each other) is named with the reason, and its
clients train sequentially.
"""

from __future__ import annotations

import contextlib
import copy
import re
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from ..qnn import set_precision
from ..qnn._layers import Precision, QuantModule
from ..torch_rng import torch_stream
from ._local_training import train_locally  # the reference: the sequential engine's training
from ._optimizer import PlainSGD


class LabelledData(Protocol):
    """What a client trains on: inputs ``x`` and integer labels ``y`` (numpy arrays). A
    ``fedsim.data.Dataset`` is one; a float64 test passes any object with the two arrays."""

    x: np.ndarray
    y: np.ndarray


def cohort_unsupported(optimizer: str, model: nn.Module | None = None, data: LabelledData | None = None) -> str | None:
    """Why a classifier stepping with ``optimizer`` cannot train as a cohort (one short clause),
    or None if it can; with ``model`` and a few examples of its ``data``, also whether torch.func
    trains that model as the sequential engine does (:func:`_model_unsupported`, once per model)."""
    if optimizer != "sgd":
        return f"train.optimizer={optimizer} (the cohort engine steps SGD with momentum only)"
    if model is None or data is None:
        return None
    if model not in _MODEL_REASONS:
        _MODEL_REASONS[model] = _model_unsupported(model, data)
    return _MODEL_REASONS[model]


_MODEL_REASONS: weakref.WeakKeyDictionary[nn.Module, str | None] = weakref.WeakKeyDictionary()
_NO_BATCHING_RULE = re.compile(r"batching rule for (aten::\w+)")


def _model_unsupported(model: nn.Module, data: LabelledData) -> str | None:
    """Train copies of ``model`` on two tiny clients (2 and 3 of ``data``'s first examples, so one
    batch is padded) for two steps, as a cohort and one by one: the reason when torch.func cannot
    run the vmapped step (an error, e.g. Dropout's random draws under vmap), has no batching rule
    for one of its kernels (an LSTM: vmap would loop over the clients), or gives other updates
    (rows that see each other, beyond BatchNorm's, which the cohort groups by batch sizes).

    BatchNorm in train mode is fine: its running statistics are stacked buffers too, which vmap
    updates in place per client."""
    if len(data.y) < 5:
        return None
    clients = [_Examples(data.x[:2], data.y[:2]), _Examples(data.x[2:5], data.y[2:5])]
    steps = dict(iterations=2, batch_size=3, lr=0.1, momentum=0.9)

    def streams() -> list[torch.Generator]:
        return [torch.Generator().manual_seed(client) for client in range(len(clients))]

    probe = copy.deepcopy(model)
    with _module_of_warnings(probe) as missing:
        try:
            train_cohort(probe, clients, train_bits=8, rounding="stochastic", generators=streams(), warn=False, **steps)
        except Exception as error:  # noqa: BLE001 - whatever torch.func refuses, in one line
            return _cannot(error)
    if missing:
        ops = ", ".join(f"{op}{f' in {where}' if where else ''}" for op, where in missing.items())
        return f"torch.func has no batching rule for {ops}, so vmap would loop over the clients"
    # The updates at 32 bits, in float64 (float32, looser, for a model that will not run in float64)
    for dtype, tolerance in ((torch.float64, 1e-9), (torch.float32, 1e-3)):
        try:
            typed = [_Float64Data(c) for c in clients] if dtype == torch.float64 else clients
            cohort, sequential, _, _ = _both_engines(copy.deepcopy(model).to(dtype), typed, lambda i: streams()[i], train_bits=32,
                                                     rounding="nearest", **steps)
        except Exception as error:  # noqa: BLE001
            if dtype == torch.float64:
                continue
            return _cannot(error)
        if max_rel_diff(cohort, sequential) > tolerance:
            return "a cohort step gives other updates than training one by one (do examples of a batch see each other?)"
        break
    return None


def _cannot(error: Exception) -> str:
    first = " ".join(str(error).split(". ")[0].split())
    return f"torch.func cannot train it: {type(error).__name__}: {first}"


@contextlib.contextmanager
def _module_of_warnings(model: nn.Module):
    """Within: each missing-batching-rule warning's op (aten::...) -> the innermost module of
    ``model`` whose forward raised it ("name (Type)", or "" for a backward kernel)."""
    found: dict[str, str] = {}
    starts: list[int] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def before(_module, _args) -> None:
            starts.append(len(caught))

        def after(module, _args, _output) -> None:
            for w in caught[starts.pop():]:
                match = _NO_BATCHING_RULE.search(str(w.message))
                if match and match.group(1) not in found:
                    found[match.group(1)] = names[module]

        names = {m: f"{name or 'the model'} ({type(m).__name__})" for name, m in model.named_modules()}
        hooks = [h for m in names for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
        try:
            yield found
        finally:
            for hook in hooks:
                hook.remove()
            for w in caught:  # backward kernels, outside any forward
                match = _NO_BATCHING_RULE.search(str(w.message))
                if match:
                    found.setdefault(match.group(1), "")


class _Examples:
    """A few labelled examples (numpy ``x`` and ``y``): a probe's client."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y


@dataclass(frozen=True)
class _NoiseLayout:
    """The shapes of a forward pass's noise draws, in draw order, and their one dtype."""

    shapes: tuple[torch.Size, ...]
    dtype: torch.dtype

    def padded(self, flat: torch.Tensor, rows: _NoiseLayout) -> torch.Tensor:
        """``flat`` (draws of this layout) laid out as ``rows``, a larger batch's: each batch-
        dependent draw gets zero rows appended (the padding rows' noise)."""
        if rows.shapes == self.shapes:
            return flat
        pieces, offset = [], 0
        for mine, theirs in zip(self.shapes, rows.shapes, strict=True):
            piece = flat[offset : offset + mine.numel()].view(mine)
            offset += mine.numel()
            if mine != theirs:
                if mine[1:] != theirs[1:]:
                    raise ValueError(f"a quantizer draws noise of shape {tuple(mine)} at one batch size, {tuple(theirs)} at another: not padded rows")
                piece = torch.cat([piece, piece.new_zeros((theirs[0] - mine[0], *mine[1:]))])
            pieces.append(piece.reshape(-1))
        return torch.cat(pieces)

    def split(self, stacked: torch.Tensor) -> list[torch.Tensor]:
        """(K, total) concatenated draws -> one (K, *shape) view per quantizer call."""
        out, offset = [], 0
        for shape in self.shapes:
            out.append(stacked[:, offset : offset + shape.numel()].unflatten(1, shape))
            offset += shape.numel()
        return out


class _ClientDraws:
    """One client's batches and stochastic-rounding noise, drawn from its generator in the order
    ``train_locally`` draws them."""

    def __init__(self, n: int, iterations: int, batch_size: int, generator: torch.Generator,
                 noise_shapes: Callable[[int], _NoiseLayout]) -> None:
        self.batches: list[torch.Tensor] = []
        self.noises: list[torch.Tensor] = []  # per step: the draws of all quantizers, concatenated
        order = torch.randperm(n, generator=generator)
        cursor = 0
        for _ in range(iterations):
            if cursor >= n:
                order, cursor = torch.randperm(n, generator=generator), 0
            batch = order[cursor : cursor + batch_size]
            cursor += batch_size
            self.batches.append(batch)
            layout = noise_shapes(len(batch))
            # CPU uniform_ fills serially, one generator value per element, so one draw of the
            # concatenated size is the quantizers' draws one after another (the streams match).
            self.noises.append(torch.rand(sum(shape.numel() for shape in layout.shapes), generator=generator, dtype=layout.dtype))

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return tuple(len(b) for b in self.batches)


def _shared_precision(model: nn.Module) -> Precision | None:
    return next((m.precision for m in model.modules() if isinstance(m, QuantModule)), None)


def train_cohort(
    model: nn.Module,
    datasets: Sequence[LabelledData],
    *,
    iterations: int,
    batch_size: int,
    lr: float,
    momentum: float,
    train_bits: int,
    rounding: str,
    generators: Sequence[torch.Generator],
    proximal_mu: float = 0.0,
    warn: bool = True,
) -> tuple[list[dict[str, torch.Tensor]], list[float]]:
    """Train one copy of ``model`` (its current weights are the global state) per dataset, as
    ``train_locally`` would with each client's generator; return each client's final state
    (parameters and buffers by state-dict name) and mean loss, in the order given.

    The step is SGD with momentum (see :func:`cohort_unsupported`); ``proximal_mu`` adds
    FedProx's gradient μ·(w - w_global) to each client's, as ``train_locally``'s term does;
    ``warn`` is ``set_precision``'s (False: no warning about float32 layers)."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    set_precision(model, train_bits, rounding, warn=warn)
    precision = _shared_precision(model)
    model.train()
    xs = [torch.from_numpy(d.x) for d in datasets]
    ys = [torch.from_numpy(d.y) for d in datasets]
    input_shape = tuple(xs[0].shape[1:])
    # The loss weights' dtype, and the (empty) noise's when nothing draws: the parameters' (token inputs are int64)
    float_dtype = next((v.dtype for v in params.values() if v.is_floating_point()), torch.get_default_dtype())

    layouts: dict[int, _NoiseLayout] = {}

    def noise_shapes(batch: int) -> _NoiseLayout:
        """The noise draws of the quantizers in forward order for a batch of ``batch`` (traced
        once per batch size, with zero noise)."""
        if batch not in layouts:
            recorded: list[tuple[torch.Size, torch.dtype]] = []
            if precision is not None and precision.stochastic:
                precision.noise_source = lambda t: recorded.append((t.shape, t.dtype)) or torch.zeros_like(t)
                model.eval()  # the same quantizer calls; BatchNorm leaves its running statistics alone
                try:
                    with torch.no_grad():
                        functional_call(model, (params, buffers), (torch.zeros((batch, *input_shape), dtype=xs[0].dtype),))
                finally:
                    precision.noise_source = None
                    model.train()
            dtypes = {dtype for _, dtype in recorded}
            if len(dtypes) > 1:
                raise ValueError(f"quantizers of {type(model).__name__} round tensors of several dtypes ({sorted(map(str, dtypes))})")
            layouts[batch] = _NoiseLayout(tuple(shape for shape, _ in recorded), dtypes.pop() if dtypes else float_dtype)
        return layouts[batch]

    draws = [_ClientDraws(len(y), iterations, batch_size, g, noise_shapes) for y, g in zip(ys, generators)]
    # Without BatchNorm, rows do not see each other: shorter batches are padded with zero rows of
    # zero weight, and every client stacks. BatchNorm's batch statistics would see the padding, so
    # its clients stack only with the same batch sizes step by step.
    padded = not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    groups: dict[tuple[int, ...], list[int]] = {}
    for client, d in enumerate(draws):
        groups.setdefault(() if padded else d.batch_sizes, []).append(client)

    def loss_of(p, b, x, y, weight, noises):
        if precision is not None:
            fed = iter(noises)
            precision.noise_source = lambda t: next(fed)
        # The mean over the client's own rows (weight 1/b on them, 0 on the padding).
        loss = (F.cross_entropy(functional_call(model, (p, b), (x,)), y, reduction="none") * weight).sum()
        return loss, loss.detach()

    step = vmap(grad(loss_of, has_aux=True))
    states: list[dict[str, torch.Tensor]] = [{} for _ in datasets]
    losses = [0.0] * len(datasets)
    try:
        for members in groups.values():
            k = len(members)
            stacked = {name: v.unsqueeze(0).repeat(k, *([1] * v.dim())) for name, v in params.items()}
            stacked_buffers = {name: v.unsqueeze(0).repeat(k, *([1] * v.dim())) for name, v in buffers.items()}
            sgd = PlainSGD(list(stacked.values()), lr=lr, momentum=momentum)  # the sequential engine's update, per client
            totals = [0.0] * k
            for i in range(iterations):
                sizes = [len(draws[c].batches[i]) for c in members]
                rows = max(sizes)
                x = xs[0].new_zeros((k, rows, *input_shape))
                y = ys[0].new_zeros((k, rows))
                weight = torch.zeros((k, rows), dtype=float_dtype)
                layout = noise_shapes(rows)
                flat = []
                for j, (c, size) in enumerate(zip(members, sizes)):
                    batch = draws[c].batches[i]
                    x[j, :size], y[j, :size], weight[j, :size] = xs[c][batch], ys[c][batch], 1.0 / size
                    flat.append(noise_shapes(size).padded(draws[c].noises[i], layout))
                grads, loss = step(stacked, stacked_buffers, x, y, weight, layout.split(torch.stack(flat)))
                if proximal_mu > 0:  # d/dw of μ/2·‖w - w_global‖², per client
                    grads = {name: g + proximal_mu * (stacked[name] - params[name]) for name, g in grads.items()}
                sgd.step([grads[name] for name in stacked])
                for j, value in enumerate(loss.tolist()):
                    totals[j] += value  # as train_locally: a Python sum of each step's loss
            for j, c in enumerate(members):
                states[c] = {**{n: v[j] for n, v in stacked.items()}, **{n: v[j] for n, v in stacked_buffers.items()}}
                losses[c] = totals[j] / iterations
    finally:
        if precision is not None:
            precision.noise_source = None
    return states, losses


def max_rel_diff(ours: Sequence[Sequence[np.ndarray]], reference: Sequence[Sequence[np.ndarray]]) -> float:
    """max over clients of max|ours - reference| / max|reference|, each client's update taken as
    one vector (a tensor whose true update is 0, as a conv bias before BatchNorm, holds only
    rounding noise, so it is not measured against itself). An all-zero reference counts 0/0 as 0."""
    worst = 0.0
    for a_list, b_list in zip(ours, reference, strict=True):
        pairs = list(zip(a_list, b_list, strict=True))
        scale = max((float(np.max(np.abs(b))) for _, b in pairs if b.size), default=0.0)
        gap = max((float(np.max(np.abs(np.asarray(a) - b))) for a, b in pairs if b.size), default=0.0)
        worst = max(worst, gap / scale if scale > 0 else (0.0 if gap == 0 else float("inf")))
    return worst


def float64_equivalence(task, devices: Sequence[int], server_round: int, *, train_bits: int, iterations: int,
                        rounding: str | None = None) -> dict[str, object]:
    """``cohort_max_rel_diff``: ``devices``' updates from the task's seeded model, trained in float64
    by the cohort (``train_cohort``) and one by one (``train_locally``, the sequential engine's
    code) with the same streams; also both engines' losses and the updates themselves.

    ``task`` is a ``ClassifierTask`` (its model, partitions and ``config.train``)."""
    train = task.config.train
    datasets = [_Float64Data(task.device_data(d)) for d in devices]
    kwargs = dict(iterations=iterations, batch_size=train.batch_size, lr=train.lr, momentum=train.momentum,
                  train_bits=train_bits, rounding=rounding or train.rounding)

    def generator(index: int) -> torch.Generator:
        return torch_stream(task.config.seed, "local-training", devices[index], server_round)

    cohort, sequential, losses, sequential_losses = _both_engines(task.new_model().double(), datasets, generator, **kwargs)
    return {
        "cohort_max_rel_diff": max_rel_diff(cohort, sequential),
        "cohort_updates": cohort, "sequential_updates": sequential,
        "cohort_losses": losses, "sequential_losses": sequential_losses,
        "num_examples": [len(d.y) for d in datasets],
    }


def _both_engines(base: nn.Module, datasets: Sequence[LabelledData], generator: Callable[[int], torch.Generator], **kwargs):
    """(cohort updates, sequential updates, cohort losses, sequential losses) of copies of
    ``base`` trained on ``datasets`` (client i with ``generator(i)``) by ``train_locally`` one by
    one and by ``train_cohort``; an update is each floating state entry's change, in state order."""
    start = {k: v.detach().clone() for k, v in base.state_dict().items() if torch.is_floating_point(v)}
    sequential, sequential_losses = [], []
    for index, data in enumerate(datasets):
        model = copy.deepcopy(base)
        sequential_losses.append(train_locally(model, data, generator=generator(index), **kwargs))
        sequential.append([(model.state_dict()[k] - v).numpy() for k, v in start.items()])
    states, losses = train_cohort(copy.deepcopy(base), datasets, generators=[generator(i) for i in range(len(datasets))], **kwargs)
    cohort = [[(state[k] - v).numpy() for k, v in start.items()] for state in states]
    return cohort, sequential, losses, sequential_losses


class _Float64Data:
    """A client's data with float64 inputs (``fedsim.data.Dataset`` keeps float32); token ids
    stay int64."""

    def __init__(self, data: LabelledData) -> None:
        self.x = data.x if np.issubdtype(data.x.dtype, np.integer) else np.asarray(data.x, dtype=np.float64)
        self.y = data.y
