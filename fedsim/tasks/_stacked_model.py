"""A model's stacked twin: K clients' copies of one model run as one program on stacked tensors.

The K clients' batches are concatenated on the leading axis (client k's rows are the k-th block
of equal size), so the model's own ``forward``, and every row-wise op in it (activations,
pooling, flatten, strided slicing, channel padding), runs unchanged. Only the layers with
parameters are swapped, in a copy of the model, for twins that read client k's weights from
slice k of (K, *shape) tensors: Linear as a batched matmul, Conv as one grouped convolution
over the clients' channels, BatchNorm with each client's own batch statistics and running
statistics, GroupNorm and LayerNorm with each client's affine. Autograd then differentiates
the sum of the clients' losses, whose gradient with respect to slice k is client k's own: no
torch.func, whose import pulls in torch._dynamo (seconds per process), and no per-client Python
in a step.

A model with any other parametrised layer, or with a layer that draws random numbers
(Dropout), has no stacked twin (:func:`unstackable`); the cohort engine then tries torch.func.
"""

from __future__ import annotations

import copy
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from ..qnn._layers import Precision, QuantConv1d, QuantConv2d, QuantLinear
from ..qnn._names import FULL_PRECISION_BITS
from ..qnn._quantizer import _round_to_grid, quantize

_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)
_STACKABLE = (QuantLinear, QuantConv1d, QuantConv2d, *_NORM_TYPES)


def unstackable(model: nn.Module) -> str | None:
    """Why ``model`` has no stacked twin (the first offending layer), or None if it has one."""
    for name, module in model.named_modules():
        label = f"{name or 'the model'} ({type(module).__name__})"
        if isinstance(module, nn.modules.dropout._DropoutNd):
            return f"{label} draws random numbers"
        own = next(module.parameters(recurse=False), None) is not None or next(module.buffers(recurse=False), None) is not None
        if own and type(module) not in _STACKABLE:
            return f"{label} is not a layer the stacked twin knows"
    return None


class StackedTwin:
    """A copy of ``model`` whose parametrised layers read stacked tensors; call :meth:`bind`
    with (K, *shape) parameters and buffers by state-dict name, then the twin on (K·B, ...) rows."""

    def __init__(self, model: nn.Module) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.precision = Precision()
        # Set while the noise_source feeds tensors the quantizers may round in (the cohort's own
        # noise buffer, redrawn before it is read again)
        self.noise_writable = False
        self._scratch: dict[int, torch.Tensor] = {}
        self.module = copy.deepcopy(model)
        for parent_name, parent in list(self.module.named_modules()):
            for child_name, child in list(parent.named_children()):
                if type(child) in _STACKABLE:
                    prefix = f"{parent_name}.{child_name}" if parent_name else child_name
                    parent._modules[child_name] = _twin_of(child, prefix, self)

    def bind(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def scratch(self, shape: tuple[int, ...], dtype: torch.dtype, slot: int = 0) -> torch.Tensor:
        """An uninitialised (``shape``) tensor in buffer ``slot``, kept between calls (a large
        fresh one page-faults on every use), grown as needed: one user per slot at a time."""
        numel = 1
        for n in shape:
            numel *= n
        kept = self._scratch.get(slot)
        if kept is None or kept.dtype != dtype or kept.numel() < numel:
            self._scratch.pop(slot, None)  # freed before the larger one is allocated
            kept = self._scratch[slot] = torch.empty(numel, dtype=dtype)
        return kept[:numel].view(shape)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


_TWINS: weakref.WeakKeyDictionary[nn.Module, StackedTwin] = weakref.WeakKeyDictionary()


def stacked_twin(model: nn.Module) -> StackedTwin:
    """The (cached) stacked twin of ``model``; its structure only: weights come from ``bind``."""
    if model not in _TWINS:
        _TWINS[model] = StackedTwin(model)
    return _TWINS[model]


class _StackedLayer(nn.Module):
    """A twin layer: its state-dict prefix, and the twin whose bound tensors it reads."""

    def __init__(self, prefix: str, owner: StackedTwin) -> None:
        super().__init__()
        self.prefix = prefix
        self._owner = weakref.ref(owner)  # no cycle through the twin's module tree

    def tensor(self, name: str) -> torch.Tensor | None:
        return self._owner().tensors.get(f"{self.prefix}.{name}")

    def quantize(self, x: torch.Tensor, *, clip: bool) -> torch.Tensor:
        p = self._owner().precision
        return quantize(x, p.bits, clip=clip, stochastic=p.stochastic, generator=p.generator, noise_source=p.noise_source)


def _twin_of(module: nn.Module, prefix: str, owner: StackedTwin) -> _StackedLayer:
    if isinstance(module, QuantLinear):
        return _StackedLinear(prefix, owner)
    if isinstance(module, (QuantConv1d, QuantConv2d)):
        return _StackedConv(module, prefix, owner)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return _StackedBatchNorm(module, prefix, owner)
    if isinstance(module, nn.GroupNorm):
        return _StackedGroupNorm(module, prefix, owner)
    return _StackedLayerNorm(module, prefix, owner)


class _StackedLinear(_StackedLayer):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.tensor("weight"), self.tensor("bias")
        owner = self._owner()
        p, writable = owner.precision, owner.noise_writable
        quantized = p.bits < FULL_PRECISION_BITS
        # The quantizers in QuantLinear's order (bias, input, weight): the noise is fed in draw
        # order. The clip to [-1, 1] is the identity for latent weights inside it (the usual
        # case): then no clipped copy, and no mask on the gradient.
        with torch.no_grad():
            clip_bias = quantized and bias is not None and _outside_unit(bias)
            rounded_bias = None if bias is None else _rounded(bias, p, clip=clip_bias, writable=writable)
            rounded_x = _rounded(x.detach(), p, clip=False, writable=writable)
            clip_weight = quantized and _outside_unit(weight)
            rounded_weight = _rounded(weight, p, clip=clip_weight, writable=writable)
        return _QuantizedBmm.apply(x, weight, bias, rounded_x, rounded_weight, rounded_bias,
                                   weight if clip_weight else None, bias if clip_bias else None)


def _outside_unit(latent: torch.Tensor) -> bool:
    """Whether any entry of ``latent`` lies outside [-1, 1] (or is NaN): one reduction."""
    low, high = torch.aminmax(latent)
    return not (float(low) >= -1.0 and float(high) <= 1.0)


def _rounded(x: torch.Tensor, p: Precision, *, clip: bool, writable: bool = False) -> torch.Tensor:
    """The value ``quantize`` gives (to the last bit but for its straight-through's x + (q - x),
    which can move q by one unit in the last place), without autograd; ``writable``: round in
    the fed noise itself (see ``_round_to_grid``)."""
    if p.bits >= FULL_PRECISION_BITS:
        return x.detach()
    return _round_to_grid(torch.clamp(x, -1.0, 1.0) if clip else x, p.bits, p.stochastic, p.generator, p.noise_source,
                          noise_writable=writable)


class _QuantizedBmm(torch.autograd.Function):
    """Each client's rows times its quantized weight plus its quantized bias, with the
    quantizers' straight-through gradients (the weight clip's zero outside [-1, 1]) written out:
    one graph node per layer instead of a dozen, and no temporaries of the weights' size.
    ``clip_weight`` / ``clip_bias``: the latent tensor whose clip masks the gradient, None when
    nothing of it was clipped."""

    @staticmethod
    def forward(ctx, x, weight, bias, rounded_x, rounded_weight, rounded_bias, clip_weight, clip_bias):
        k, out_features, in_features = weight.shape
        rows = rounded_x.reshape(k, -1, in_features)
        if rounded_bias is None:
            y = torch.bmm(rows, rounded_weight.transpose(1, 2))
        else:
            y = torch.baddbmm(rounded_bias.unsqueeze(1), rows, rounded_weight.transpose(1, 2))
        # The rounded tensors may live in the cohort's noise buffer, which later layers' rounding
        # writes to (other slices, but one version counter): kept as attributes, not saved tensors.
        ctx.rows, ctx.rounded_weight = rows, rounded_weight
        ctx.save_for_backward(clip_weight, clip_bias)
        ctx.x_shape, ctx.has_bias = x.shape, bias is not None
        return y.reshape(*x.shape[:-1], out_features)

    @staticmethod
    def backward(ctx, grad):
        rows, rounded_weight = ctx.rows, ctx.rounded_weight
        clip_weight, clip_bias = ctx.saved_tensors
        k, out_features = rounded_weight.shape[0], rounded_weight.shape[1]
        grad_rows = grad.reshape(k, -1, out_features)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(grad_rows, rounded_weight).reshape(ctx.x_shape)
        if ctx.needs_input_grad[1]:
            grad_w = torch.bmm(grad_rows.transpose(1, 2), rows)
            if clip_weight is not None:  # clamp's gradient: zero outside [-1, 1]
                grad_w.masked_fill_(clip_weight.abs() > 1.0, 0.0)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_rows.sum(1)
            if clip_bias is not None:
                grad_b.masked_fill_(clip_bias.abs() > 1.0, 0.0)
        return grad_x, grad_w, grad_b, None, None, None, None, None


def _fold(x: torch.Tensor, k: int) -> torch.Tensor:
    """(K·B, C, *S) rows -> (B, K·C, *S): each client's channels side by side."""
    b = x.shape[0] // k
    return x.reshape(k, b, *x.shape[1:]).transpose(0, 1).reshape(b, k * x.shape[1], *x.shape[2:])


def _unfold(x: torch.Tensor, k: int) -> torch.Tensor:
    """Inverse of :func:`_fold`."""
    b, c = x.shape[0], x.shape[1] // k
    return x.reshape(b, k, c, *x.shape[2:]).transpose(0, 1).reshape(k * b, c, *x.shape[2:])


class _StackedConv(_StackedLayer):
    """One convolution with groups = K x the layer's groups over the folded channels."""

    def __init__(self, conv: nn.modules.conv._ConvNd, prefix: str, owner: StackedTwin) -> None:
        super().__init__(prefix, owner)
        self.conv = F.conv1d if isinstance(conv, nn.Conv1d) else F.conv2d
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.padding_mode, self.pad_first = conv.padding_mode, conv._reversed_padding_repeated_twice

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.tensor("weight"), self.tensor("bias")
        bias = None if bias is None else self.quantize(bias, clip=True)
        x = self.quantize(x, clip=False)
        weight = self.quantize(weight, clip=True)
        k = weight.shape[0]
        padding = self.padding
        if self.padding_mode != "zeros":  # as _ConvNd: pad the spatial dims first (row-wise)
            x, padding = F.pad(x, self.pad_first, mode=self.padding_mode), 0
        y = self.conv(_fold(x, k), weight.reshape(-1, *weight.shape[2:]), None if bias is None else bias.reshape(-1),
                      self.stride, padding, self.dilation, self.groups * k)
        return _unfold(y, k)


class _StackedBatchNorm(_StackedLayer):
    """Train-mode BatchNorm over the folded channels: each client's batch statistics, and its
    running statistics updated in place in the stacked buffers (views of them)."""

    def __init__(self, norm: nn.modules.batchnorm._BatchNorm, prefix: str, owner: StackedTwin) -> None:
        super().__init__(prefix, owner)
        self.eps, self.momentum = norm.eps, norm.momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.tensor("weight"), self.tensor("bias")
        mean, var, count = self.tensor("running_mean"), self.tensor("running_var"), self.tensor("num_batches_tracked")
        k = next(t.shape[0] for t in (weight, mean) if t is not None)
        factor = 0.0 if self.momentum is None else self.momentum
        if count is not None:
            count.add_(1)
            if self.momentum is None:  # a cumulative average: every client has seen as many batches
                factor = 1.0 / float(count[0])
        y = F.batch_norm(_fold(x, k), None if mean is None else mean.view(-1), None if var is None else var.view(-1),
                         None if weight is None else weight.reshape(-1), None if bias is None else bias.reshape(-1),
                         True, factor, self.eps)
        return _unfold(y, k)


def _affine(y: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, trailing: int) -> torch.Tensor:
    """y (K·B, ...) times client k's weight plus its bias, broadcast over ``trailing`` dims
    after the (K, *shape) parameters' own."""
    if weight is None and bias is None:
        return y
    k = (weight if weight is not None else bias).shape[0]
    rows = y.reshape(k, -1, *y.shape[1:])
    shape = lambda t: t.reshape(k, 1, *t.shape[1:], *([1] * trailing))  # noqa: E731
    if weight is not None:
        rows = rows * shape(weight)
    if bias is not None:
        rows = rows + shape(bias)
    return rows.reshape(y.shape)


class _StackedGroupNorm(_StackedLayer):
    def __init__(self, norm: nn.GroupNorm, prefix: str, owner: StackedTwin) -> None:
        super().__init__(prefix, owner)
        self.num_groups, self.eps = norm.num_groups, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.group_norm(x, self.num_groups, None, None, self.eps)  # per example: rows stay apart
        return _affine(y, self.tensor("weight"), self.tensor("bias"), x.dim() - 2)


class _StackedLayerNorm(_StackedLayer):
    def __init__(self, norm: nn.LayerNorm, prefix: str, owner: StackedTwin) -> None:
        super().__init__(prefix, owner)
        self.normalized_shape, self.eps = tuple(norm.normalized_shape), norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x, self.normalized_shape, None, None, self.eps)
        weight, bias = self.tensor("weight"), self.tensor("bias")
        if weight is None and bias is None:
            return y
        k = (weight if weight is not None else bias).shape[0]
        rows = y.reshape(k, -1, *self.normalized_shape)
        if weight is not None:
            rows = rows * weight.unsqueeze(1)
        if bias is not None:
            rows = rows + bias.unsqueeze(1)
        return rows.reshape(y.shape)
