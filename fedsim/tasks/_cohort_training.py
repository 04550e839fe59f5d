"""Local SGD of a cohort: a round's clients train together, on stacked parameters.

``train_cohort`` computes what ``train_locally`` computes for each client, for many clients at
once, over per-client copies of the global parameters stacked on a leading axis. Two routes:

- stacked (every built-in model but the LSTM, and any model made of the same layers): the
  model's stacked twin (``fedsim.tasks._stacked_model``) runs all clients' rows as one batch,
  Linear as a batched matmul and Conv as one grouped convolution, and plain autograd
  differentiates the sum of the clients' losses. No torch.func, so no torch._dynamo import.
- vmapped (any other model torch.func can train): ``torch.func.vmap(grad(loss of
  functional_call))``, imported only then.

Each client's torch stream is consumed exactly as the sequential engine consumes it (a
permutation of its data, then per step a reshuffle when the pass is over and the quantizer's
U[0, 1) draws in forward order): the stacked route draws every client's step into one (K, draws)
buffer before the step (kept across rounds, and rounded in place), the vmapped route all steps
before the first; the drawn noise is then fed to the quantizers through ``Precision.noise_source``. So the batches and the noise are the sequential
engine's, bit for bit; what differs is only the floating-point order of the batched kernels
(updates agree to ~1e-15 relative in float64).

A step's shorter batches (a client's last batch of a pass, a smaller partition) are padded with
zero rows of zero loss weight, so all clients stack into one program; a model with BatchNorm,
whose batch statistics would see the padding, runs one program per distinct sequence of batch
sizes instead. A cohort too large for ``COHORT_MEMORY_BYTES`` of activations trains in chunks.

Any model (``model=custom`` too) is first tried on a few examples (``cohort_unsupported``):
one that neither route trains as the sequential engine does (Dropout's random draws, an LSTM's
kernel without a batching rule, examples of a batch that see each other) is named with the
reason, and its clients train sequentially.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._torch_threads import cpu_share, torch_threads
from ..qnn import set_precision
from ..qnn._layers import Precision, QuantModule
from ..torch_rng import torch_stream
from ._local_training import train_locally  # the reference: the sequential engine's training
from ._optimizer import PlainSGD
from ._stacked_model import stacked_twin, unstackable


class LabelledData(Protocol):
    """What a client trains on: inputs ``x`` and integer labels ``y`` (numpy arrays). A
    ``fedsim.data.Dataset`` is one; a float64 test passes any object with the two arrays."""

    x: np.ndarray
    y: np.ndarray


STACKED, VMAPPED = "stacked", "vmapped"  # the two routes of train_cohort (see the module's docstring)


def cohort_unsupported(optimizer: str, model: nn.Module | None = None, data: LabelledData | None = None) -> str | None:
    """Why a classifier stepping with ``optimizer`` cannot train as a cohort (one short clause),
    or None if it can; with ``model`` and a few examples of its ``data``, also whether one of the
    routes trains that model as the sequential engine does (:func:`_model_route`, once per model)."""
    if optimizer != "sgd":
        return f"train.optimizer={optimizer} (the cohort engine steps SGD with momentum only)"
    if model is None or data is None:
        return None
    if model not in _MODEL_ROUTES:
        _MODEL_ROUTES[model] = _model_route(model, data)
    return _MODEL_ROUTES[model][1]


def cohort_route(model: nn.Module) -> str:
    """The route ``train_cohort`` takes for ``model``: the one its probe chose, else stacked
    when the model has a stacked twin."""
    probed = _MODEL_ROUTES.get(model)
    if probed is not None and probed[0] is not None:
        return probed[0]
    return STACKED if unstackable(model) is None else VMAPPED


_MODEL_ROUTES: weakref.WeakKeyDictionary[nn.Module, tuple[str | None, str | None]] = weakref.WeakKeyDictionary()
_NO_BATCHING_RULE = re.compile(r"batching rule for (aten::\w+)")


def _model_route(model: nn.Module, data: LabelledData) -> tuple[str | None, str | None]:
    """(route, None) for the first route that trains ``model`` as the sequential engine does
    (stacked, then vmapped), or (None, the vmapped route's reason)."""
    if len(data.y) < 5:
        return cohort_route(model), None
    if unstackable(model) is None and _route_unsupported(model, data, STACKED) is None:
        return STACKED, None
    reason = _route_unsupported(model, data, VMAPPED)
    return (None if reason else VMAPPED), reason


def _route_unsupported(model: nn.Module, data: LabelledData, route: str) -> str | None:
    """Train copies of ``model`` on two tiny clients (2 and 3 of ``data``'s first examples, so one
    batch is padded) for two steps, as a cohort by ``route`` and one by one: the reason when the
    route cannot run the step (an error, e.g. Dropout's random draws under vmap), torch.func has
    no batching rule for one of its kernels (an LSTM: vmap would loop over the clients), or the
    route gives other updates (rows that see each other, beyond BatchNorm's, which the cohort
    groups by batch sizes).

    BatchNorm in train mode is fine: its running statistics are stacked buffers too, updated in
    place per client."""
    clients = [_Examples(data.x[:2], data.y[:2]), _Examples(data.x[2:5], data.y[2:5])]
    steps = dict(iterations=2, batch_size=3, lr=0.1, momentum=0.9)

    def streams() -> list[torch.Generator]:
        return [torch.Generator().manual_seed(client) for client in range(len(clients))]

    probe = copy.deepcopy(model)
    with _module_of_warnings(probe) as missing:
        try:
            train_cohort(probe, clients, train_bits=8, rounding="stochastic", generators=streams(), warn=False, route=route, **steps)
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
                                                     rounding="nearest", route=route, **steps)
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


@dataclass
class CohortTraining:
    """What ``train_cohort`` returns, client k in slice k of every tensor (the order given)."""

    states: dict[str, torch.Tensor]  # (K, *shape): each client's final parameters and buffers by state-dict name
    losses: list[float]  # each client's mean loss over its steps
    gradient_sums: dict[str, torch.Tensor] | None = None  # (K, *shape): the raw gradients summed over the steps

    def state_of(self, client: int) -> dict[str, torch.Tensor]:
        return {name: v[client] for name, v in self.states.items()}


# Activations (and their noise, gradients and saved copies) one chunk of a cohort may hold: a
# larger cohort of a large model (cifar_cnn, resnet20 at 100 clients) trains in chunks.
COHORT_MEMORY_BYTES = 1 << 30


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
    corrections: dict[str, torch.Tensor] | None = None,
    gradient_sums: bool = False,
    warn: bool = True,
    route: str | None = None,
) -> CohortTraining:
    """Train one copy of ``model`` (its current weights are the global state) per dataset, as
    ``train_locally`` would with each client's generator.

    The step is SGD with momentum (see :func:`cohort_unsupported`); ``proximal_mu`` adds
    FedProx's gradient μ·(w - w_global) to each client's, as ``train_locally``'s term does;
    ``corrections`` (SCAFFOLD's c - c_i, (K, *shape) by parameter name) is added to every step's
    gradient after ``gradient_sums`` (when True) has summed it; ``warn`` is ``set_precision``'s
    (False: no warning about float32 layers); ``route`` is stacked or vmapped (None: the
    model's, :func:`cohort_route`)."""
    route = route or cohort_route(model)
    if route not in (STACKED, VMAPPED):
        raise ValueError(f"route={route!r} is not allowed: {STACKED} or {VMAPPED}")
    if route == VMAPPED and (corrections is not None or gradient_sums):
        raise ValueError("the vmapped route trains without SCAFFOLD's corrections and gradient sums")
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    set_precision(model, train_bits, rounding, warn=warn)
    model.train()
    xs = [torch.from_numpy(d.x) for d in datasets]
    ys = [torch.from_numpy(d.y) for d in datasets]
    # The loss weights' dtype, and the (empty) noise's when nothing draws: the parameters' (token inputs are int64)
    float_dtype = next((v.dtype for v in params.values() if v.is_floating_point()), torch.get_default_dtype())
    layouts = _Layouts(model, params, buffers, tuple(xs[0].shape[1:]), xs[0].dtype, float_dtype, functional=route == VMAPPED)
    sizes = [_batch_sizes(len(y), iterations, batch_size) for y in ys]
    # Without BatchNorm, rows do not see each other: shorter batches are padded with zero rows of
    # zero weight, and every client stacks. BatchNorm's batch statistics would see the padding, so
    # its clients stack only with the same batch sizes step by step.
    padded = not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    groups: dict[tuple[int, ...], list[int]] = {}
    for client, s in enumerate(sizes):
        groups.setdefault(() if padded else s, []).append(client)
    if route == STACKED:
        chunk = max(1, COHORT_MEMORY_BYTES // max(1, _bytes_per_client(model, params, layouts, batch_size, float_dtype)))
        train = _StackedTrainer(model, params, buffers, xs, ys, layouts, float_dtype, iterations, batch_size, lr, momentum, proximal_mu)
        parts = [train(members[i : i + chunk], [generators[c] for c in members[i : i + chunk]], sizes, corrections, gradient_sums)
                 for members in groups.values() for i in range(0, len(members), chunk)]
        order = [c for members in groups.values() for c in members]
    else:
        parts = [_train_vmapped(model, params, buffers, members, xs, ys, [generators[c] for c in members], layouts, float_dtype,
                                iterations, batch_size, lr, momentum, proximal_mu) for members in groups.values()]
        order = [c for members in groups.values() for c in members]
    return _in_order(parts, order)


def _in_order(parts: list[CohortTraining], order: list[int]) -> CohortTraining:
    """One CohortTraining of the parts (clients ``order``, part after part) in the clients' order."""
    if len(parts) == 1 and order == sorted(order):
        return parts[0]
    where = torch.tensor(order).argsort()  # position of client c among the concatenated parts
    losses = [loss for part in parts for loss in part.losses]

    def joined(field: str) -> dict[str, torch.Tensor] | None:
        if getattr(parts[0], field) is None:
            return None
        return {name: torch.cat([getattr(p, field)[name] for p in parts])[where] for name in getattr(parts[0], field)}

    return CohortTraining(joined("states"), [losses[i] for i in where.tolist()], joined("gradient_sums"))


def _batch_sizes(n: int, iterations: int, batch_size: int) -> tuple[int, ...]:
    """The sizes of ``train_locally``'s batches of ``n`` examples: passes of ``batch_size``, the
    last of a pass shorter (known before any draw)."""
    out, cursor = [], 0
    for _ in range(iterations):
        if cursor >= n:
            cursor = 0
        out.append(min(batch_size, n - cursor))
        cursor += batch_size
    return tuple(out)


class _Layouts:
    """The noise draws of the quantizers in forward order for a batch of a given size (traced
    once per size with zero noise), and where a smaller batch's draws sit in a larger's."""

    def __init__(self, model, params, buffers, input_shape, input_dtype, float_dtype, *, functional: bool) -> None:
        self.model, self.params, self.buffers = model, params, buffers
        self.input_shape, self.input_dtype, self.float_dtype, self.functional = input_shape, input_dtype, float_dtype, functional
        self.precision = _shared_precision(model)
        self._layouts: dict[int, _NoiseLayout] = {}
        self._runs: dict[tuple[int, int], _Runs] = {}

    def __call__(self, batch: int) -> _NoiseLayout:
        if batch not in self._layouts:
            recorded: list[tuple[torch.Size, torch.dtype]] = []
            precision = self.precision
            if precision is not None and precision.stochastic:
                precision.noise_source = lambda t: recorded.append((t.shape, t.dtype)) or torch.zeros_like(t)
                self.model.eval()  # the same quantizer calls; BatchNorm leaves its running statistics alone
                try:
                    with torch.no_grad():
                        x = torch.zeros((batch, *self.input_shape), dtype=self.input_dtype)
                        if self.functional:
                            from torch.func import functional_call

                            functional_call(self.model, (self.params, self.buffers), (x,))
                        else:
                            self.model(x)  # its weights are the global state's
                finally:
                    precision.noise_source = None
                    self.model.train()
            dtypes = {dtype for _, dtype in recorded}
            if len(dtypes) > 1:
                raise ValueError(f"quantizers of {type(self.model).__name__} round tensors of several dtypes ({sorted(map(str, dtypes))})")
            self._layouts[batch] = _NoiseLayout(tuple(shape for shape, _ in recorded), dtypes.pop() if dtypes else self.float_dtype)
        return self._layouts[batch]

    def runs(self, batch: int, rows: int) -> _Runs:
        """Where a ``batch``-row batch's draws go within a ``rows``-row batch's layout: each
        batch-dependent draw gets zero rows appended (the padding rows' noise)."""
        key = (batch, rows)
        if key not in self._runs:
            mine, theirs = self(batch), self(rows)
            fills: list[list[int]] = []
            gaps: list[int] = []
            offset = 0
            for a, b in zip(mine.shapes, theirs.shapes, strict=True):
                if a[1:] != b[1:]:
                    raise ValueError(f"a quantizer draws noise of shape {tuple(a)} at one batch size, {tuple(b)} at another: not padded rows")
                if fills and fills[-1][1] == offset:
                    fills[-1][1] += a.numel()  # adjacent draws: one fill
                else:
                    fills.append([offset, offset + a.numel()])
                gaps.extend(range(offset + a.numel(), offset + b.numel()))
                offset += b.numel()
            self._runs[key] = _Runs(tuple((a, b) for a, b in fills if b > a), torch.tensor(gaps, dtype=torch.long))
        return self._runs[key]


@dataclass(frozen=True)
class _Runs:
    """A shorter batch's draws in a padded layout: the column ranges its draws fill, in draw
    order (each one ``uniform_`` call), and the padding's columns between them."""

    fills: tuple[tuple[int, int], ...]
    gaps: torch.Tensor


def _bytes_per_client(model: nn.Module, params: dict[str, torch.Tensor], layouts: _Layouts, batch_size: int, dtype: torch.dtype) -> int:
    """A client's share of a stacked step's memory: its parameters about six times (weights,
    gradients, momentum, quantized copies and their noise) and every module's output for its
    batch about four times (saved for backward, quantized, noise, gradient)."""
    outputs = 0

    def count(_module, _args, output) -> None:
        nonlocal outputs
        outputs += output.numel() if isinstance(output, torch.Tensor) else 0

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    hooks = [m.register_forward_hook(count) for m in leaves]
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((1, *layouts.input_shape), dtype=layouts.input_dtype))
    except Exception:  # noqa: BLE001 - a model that cannot run one example: count parameters only
        outputs = 0
    finally:
        for hook in hooks:
            hook.remove()
        model.train()
    itemsize = torch.empty(0, dtype=dtype).element_size()
    return itemsize * (6 * sum(v.numel() for v in params.values()) + 4 * batch_size * outputs)


class _StackedTrainer:
    """The stacked route: one chunk of clients stepped together through the model's stacked twin."""

    def __init__(self, model, params, buffers, xs, ys, layouts, float_dtype, iterations, batch_size, lr, momentum, proximal_mu) -> None:
        self.twin = stacked_twin(model)
        self.params, self.buffers, self.layouts, self.float_dtype = params, buffers, layouts, float_dtype
        self.iterations, self.batch_size, self.lr, self.momentum, self.proximal_mu = iterations, batch_size, lr, momentum, proximal_mu
        # Every client's examples in one tensor, and a zero example last: the padding rows' input.
        self.offsets = np.cumsum([0] + [len(y) for y in ys]).tolist()
        self.x = torch.cat([*xs, xs[0].new_zeros((1, *xs[0].shape[1:]))])
        self.y = torch.cat([*ys, ys[0].new_zeros(1)])
        precision = layouts.precision
        self.bits, self.rounding = (precision.bits, precision.rounding) if precision is not None else (32, "nearest")

    def _draw_source(self, draws: _StepDraws, members: list[int], sizes, rows: list[int], widths: list[int],
                     dtype: torch.dtype) -> tuple[_Draws, int]:
        """Where the steps' draws are made, and torch's intra-op threads for the steps' compute.

        One step's noise, client j in row j, goes to a buffer kept across rounds (a fresh one
        would page-fault in every round); the quantizers round in it in place. A large step's
        draws (serial per client generator, ~3 ns per value, the GIL released) are made a step
        ahead on a second core: that thread takes one of the process's cores from torch's
        intra-op threads (a spinning OpenMP worker on its core would stall both)."""
        k = len(members)
        buffer = lambda slot: self.twin.scratch((k, max(widths)), dtype, slot)  # noqa: E731
        share = cpu_share()
        if k * max(widths) < DRAW_AHEAD_VALUES or share < 2:
            return _DrawsInline(draws, buffer(0), widths), torch.get_num_threads()
        for i, rows_i in enumerate(rows):
            for size in {sizes[c][i] for c in members}:
                self.layouts.runs(size, rows_i)  # traced here: the model is never traced from two threads
        return _DrawsAhead(draws, [buffer(0), buffer(1)], widths), max(1, min(torch.get_num_threads(), share - 1))

    def __call__(self, members: list[int], generators: list[torch.Generator], sizes, corrections, gradient_sums: bool) -> CohortTraining:
        k, steps = len(members), self.iterations
        rows = [max(sizes[c][i] for c in members) for i in range(steps)]
        layouts = [self.layouts(r) for r in rows]
        widths = [sum(s.numel() for s in layout.shapes) for layout in layouts]
        draws = _StepDraws(self, members, generators, sizes, rows)
        source, compute_threads = self._draw_source(draws, members, sizes, rows, widths, layouts[0].dtype)
        precision = self.twin.precision
        losses_per_step = []
        with torch_threads(compute_threads):
            try:
                stacked = {name: v.unsqueeze(0).repeat(k, *([1] * v.dim())).requires_grad_() for name, v in self.params.items()}
                stacked_buffers = {name: v.unsqueeze(0).repeat(k, *([1] * v.dim())) for name, v in self.buffers.items()}
                names = list(stacked)
                leaves = [stacked[name] for name in names]
                sgd = PlainSGD(leaves, lr=self.lr, momentum=self.momentum)  # the sequential engine's update, per client
                sums = {name: torch.zeros_like(v) for name, v in stacked.items()} if gradient_sums else None
                chunk_corrections = None if corrections is None else {name: c[members] for name, c in corrections.items()}
                self.twin.bind({**stacked, **stacked_buffers})
                precision.bits, precision.rounding, precision.generator = self.bits, self.rounding, None
                self.twin.noise_writable = True  # a step's noise is drawn again only after its backward
                for i in range(steps):
                    step_noise, index, weight = source.step(i)
                    pieces = iter(layouts[i].split(step_noise))
                    precision.noise_source = lambda t: next(pieces).reshape(t.shape)
                    logits = self.twin(self.x[index])
                    # The mean over each client's own rows (weight 1/b on them, 0 on the padding).
                    per_client = (F.cross_entropy(logits, self.y[index], reduction="none") * weight).view(k, -1).sum(1)
                    grads = torch.autograd.grad(per_client.sum(), leaves)
                    with torch.no_grad():
                        if self.proximal_mu > 0:  # d/dw of μ/2·‖w - w_global‖², per client
                            grads = [g + self.proximal_mu * (w - self.params[name]) for name, g, w in zip(names, grads, leaves)]
                        if sums is not None:
                            torch._foreach_add_([sums[name] for name in names], list(grads))
                        if chunk_corrections is not None:
                            grads = [g + chunk_corrections[name] if name in chunk_corrections else g for name, g in zip(names, grads)]
                        sgd.step(list(grads))
                    losses_per_step.append(per_client.detach())
            finally:
                source.close()
                precision.noise_source = None
                self.twin.noise_writable = False
                self.twin.bind({})
        totals = [0.0] * k
        for values in torch.stack(losses_per_step).tolist():
            for j, value in enumerate(values):
                totals[j] += value  # as train_locally: a Python sum of each step's float loss
        states = {**{n: v.detach() for n, v in stacked.items()}, **stacked_buffers}
        return CohortTraining(states, [t / steps for t in totals], sums)


class _StepDraws:
    """A chunk's clients' streams, step by step: each step's batches (as rows of the trainer's
    examples, and their loss weights) and noise."""

    def __init__(self, trainer: _StackedTrainer, members: list[int], generators: list[torch.Generator], sizes, rows: list[int]) -> None:
        self.trainer, self.generators, self.rows = trainer, generators, rows
        self.sizes = [sizes[c] for c in members]
        self.counts = [trainer.offsets[c + 1] - trainer.offsets[c] for c in members]
        self.offsets = torch.tensor([trainer.offsets[c] for c in members])
        # Each client's stream in train_locally's order: a permutation, then per step a reshuffle
        # when the pass is over and the step's noise (the streams are independent, so clients
        # interleave step by step).
        self.orders = [torch.randperm(n, generator=g) for n, g in zip(self.counts, generators)]
        self.cursors = [0] * len(members)
        self.batches: list[torch.Tensor | None] = [None] * len(members)

    def step(self, i: int, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``i``'s (rows of the trainer's examples, loss weights), its noise drawn into row
        j of ``noise`` (laid out for the step's ``rows``): a shorter batch's draws go where the
        padded layout puts them, its padding's columns zero."""
        self.draw(i, noise, range(len(self.generators)))
        return self.finish(i, noise)

    def draw(self, i: int, noise: torch.Tensor, clients: Iterable[int]) -> None:
        """Step ``i``'s batch and noise of each of ``clients``: client j's from its own generator
        (two threads may share a step's clients, never one client's draws)."""
        trainer, rows, batch_size = self.trainer, self.rows[i], self.trainer.batch_size
        draws = noise.shape[1] > 0
        for j in clients:
            generator = self.generators[j]
            if self.cursors[j] >= self.counts[j]:
                self.orders[j], self.cursors[j] = torch.randperm(self.counts[j], generator=generator), 0
            self.batches[j] = self.orders[j][self.cursors[j] : self.cursors[j] + batch_size]
            self.cursors[j] += batch_size
            if not draws:
                continue
            row, size = noise[j], self.sizes[j][i]
            if size == rows:
                row.uniform_(generator=generator)
            else:
                # CPU uniform_ fills serially, one generator value per element, so filling the
                # runs one after another draws what train_locally's quantizers draw.
                for a, b in trainer.layouts.runs(size, rows).fills:
                    row[a:b].uniform_(generator=generator)

    def finish(self, i: int, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Once every client's step ``i`` is drawn: the padding's noise zeroed, and the step's
        (rows of the trainer's examples, loss weights)."""
        trainer, rows = self.trainer, self.rows[i]
        short: dict[int, list[int]] = {}
        for j, s in enumerate(self.sizes):
            if s[i] != rows:
                short.setdefault(s[i], []).append(j)
        if noise.shape[1] > 0:
            for size, clients in short.items():
                gaps = trainer.layouts.runs(size, rows).gaps
                if len(gaps):
                    noise[torch.tensor(clients)[:, None], gaps[None, :]] = 0.0
        batches = self.batches
        live = torch.tensor([s[i] for s in self.sizes])
        if not short:
            index = (torch.stack(batches) + self.offsets[:, None]).view(-1)
        else:
            padded = torch.nn.utils.rnn.pad_sequence(batches, batch_first=True, padding_value=-1)
            index = torch.where(padded >= 0, padded + self.offsets[:, None], len(trainer.y) - 1).view(-1)
        dtype = trainer.float_dtype
        weight = torch.where(torch.arange(rows)[None, :] < live[:, None], 1.0 / live.to(dtype)[:, None], 0.0).to(dtype).view(-1)
        return index, weight


class _Draws(Protocol):
    def step(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step ``i``'s (noise, rows of the trainer's examples, loss weights); steps in order."""

    def close(self) -> None:
        """Stop drawing (nothing runs after it returns)."""


class _DrawsInline:
    """Each step's draws made when the step asks, into one buffer."""

    def __init__(self, draws: _StepDraws, buffer: torch.Tensor, widths: list[int]) -> None:
        self.draws, self.buffer, self.widths = draws, buffer, widths

    def step(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        noise = self.buffer[:, : self.widths[i]]
        return (noise, *self.draws.step(i, noise))

    def close(self) -> None:
        pass


# Values per step from which drawing the next step ahead on a second thread pays for its hand-off
# (~0.1 ms: a few clients' worth of draws); the digits MLP's 100-client step draws 2.6 M.
DRAW_AHEAD_VALUES = 200_000


class _DrawsAhead:
    """Step i+1's draws started on a second thread while step i computes, into the other of two
    buffers (step i's noise is rounded in place and read by its backward, so the next step's
    draws need their own). The two threads share a step's clients: the drawing thread takes
    them in turn, and the stepping thread, once its compute is done, takes the rest, so neither
    core waits while draws remain. A client's draws are made by one thread, in its order."""

    def __init__(self, draws: _StepDraws, buffers: list[torch.Tensor], widths: list[int]) -> None:
        self.draws, self.buffers, self.widths = draws, buffers, widths
        self._pending: tuple[Iterator[int], Future] | None = self._start(0)

    def _start(self, i: int) -> tuple[Iterator[int], Future]:
        # One iterator both threads take client indices from: a range iterator's next is one C
        # call, atomic under the GIL, so each index is handed out once.
        claims = iter(range(len(self.draws.generators)))
        return claims, _draw_thread().submit(self.draws.draw, i, self._noise(i), claims)

    def _noise(self, i: int) -> torch.Tensor:
        return self.buffers[i % 2][:, : self.widths[i]]

    def step(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        claims, drawing = self._pending
        self.draws.draw(i, self._noise(i), claims)  # the clients the drawing thread has not taken
        drawing.result()
        self._pending = None
        index, weight = self.draws.finish(i, self._noise(i))
        if i + 1 < len(self.widths):
            self._pending = self._start(i + 1)
        return self._noise(i), index, weight

    def close(self) -> None:
        if self._pending is not None:  # a step failed: let the drawing finish before the buffers are reused
            claims, drawing = self._pending
            for _ in claims:  # what it has not taken is never drawn
                pass
            wait([drawing])
            self._pending = None


_DRAW_THREAD: tuple[int, ThreadPoolExecutor] | None = None


def _draw_thread() -> ThreadPoolExecutor:
    """The process's drawing thread (a forked child, whose copy of the pool has no thread,
    starts its own)."""
    global _DRAW_THREAD
    if _DRAW_THREAD is None or _DRAW_THREAD[0] != os.getpid():
        _DRAW_THREAD = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedsim-cohort-draws"))
    return _DRAW_THREAD[1]


def _train_vmapped(model, params, buffers, members, xs, ys, generators, layouts, float_dtype, iterations, batch_size, lr, momentum,
                   proximal_mu) -> CohortTraining:
    """The vmapped route: ``torch.func.vmap(grad(...))`` over one group of clients."""
    from torch.func import functional_call, grad, vmap  # imports torch._dynamo: only for a model without a stacked twin

    precision = layouts.precision
    input_shape = layouts.input_shape
    draws = [_ClientDraws(len(ys[c]), iterations, batch_size, g, layouts) for c, g in zip(members, generators)]

    def loss_of(p, b, x, y, weight, noises):
        if precision is not None:
            fed = iter(noises)
            precision.noise_source = lambda t: next(fed)
        # The mean over the client's own rows (weight 1/b on them, 0 on the padding).
        loss = (F.cross_entropy(functional_call(model, (p, b), (x,)), y, reduction="none") * weight).sum()
        return loss, loss.detach()

    step = vmap(grad(loss_of, has_aux=True))
    k = len(members)
    stacked = {name: v.unsqueeze(0).repeat(k, *([1] * v.dim())) for name, v in params.items()}
    stacked_buffers = {name: v.unsqueeze(0).repeat(k, *([1] * v.dim())) for name, v in buffers.items()}
    sgd = PlainSGD(list(stacked.values()), lr=lr, momentum=momentum)  # the sequential engine's update, per client
    totals = [0.0] * k
    try:
        for i in range(iterations):
            sizes = [len(d.batches[i]) for d in draws]
            rows = max(sizes)
            x = xs[0].new_zeros((k, rows, *input_shape))
            y = ys[0].new_zeros((k, rows))
            weight = torch.zeros((k, rows), dtype=float_dtype)
            layout = layouts(rows)
            flat = []
            for j, (c, size) in enumerate(zip(members, sizes)):
                batch = draws[j].batches[i]
                x[j, :size], y[j, :size], weight[j, :size] = xs[c][batch], ys[c][batch], 1.0 / size
                flat.append(layouts(size).padded(draws[j].noises[i], layout))
            grads, loss = step(stacked, stacked_buffers, x, y, weight, layout.split(torch.stack(flat)))
            if proximal_mu > 0:  # d/dw of μ/2·‖w - w_global‖², per client
                grads = {name: g + proximal_mu * (stacked[name] - params[name]) for name, g in grads.items()}
            sgd.step([grads[name] for name in stacked])
            for j, value in enumerate(loss.tolist()):
                totals[j] += value  # as train_locally: a Python sum of each step's loss
    finally:
        if precision is not None:
            precision.noise_source = None
    return CohortTraining({**stacked, **stacked_buffers}, [t / iterations for t in totals])


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


def _both_engines(base: nn.Module, datasets: Sequence[LabelledData], generator: Callable[[int], torch.Generator], *,
                  route: str | None = None, **kwargs):
    """(cohort updates, sequential updates, cohort losses, sequential losses) of copies of
    ``base`` trained on ``datasets`` (client i with ``generator(i)``) by ``train_locally`` one by
    one and by ``train_cohort`` (by ``route``); an update is each floating state entry's change,
    in state order."""
    start = {k: v.detach().clone() for k, v in base.state_dict().items() if torch.is_floating_point(v)}
    sequential, sequential_losses = [], []
    for index, data in enumerate(datasets):
        model = copy.deepcopy(base)
        sequential_losses.append(train_locally(model, data, generator=generator(index), **kwargs))
        sequential.append([(model.state_dict()[k] - v).numpy() for k, v in start.items()])
    trained = train_cohort(copy.deepcopy(base), datasets, generators=[generator(i) for i in range(len(datasets))], route=route, **kwargs)
    cohort = [[(trained.states[k][client].detach() - v).numpy() for k, v in start.items()] for client in range(len(datasets))]
    return cohort, sequential, trained.losses, sequential_losses


class _Float64Data:
    """A client's data with float64 inputs (``fedsim.data.Dataset`` keeps float32); token ids
    stay int64."""

    def __init__(self, data: LabelledData) -> None:
        self.x = data.x if np.issubdtype(data.x.dtype, np.integer) else np.asarray(data.x, dtype=np.float64)
        self.y = data.y
