"""Measure a model's workload (parameters, MACs, activations) from the model itself.

One forward and one backward pass of a single example of zeros (int64 zeros for token ids), in
eval mode, counted by torch's own ``torch.utils.flop_counter.FlopCounterMode``: MACs are its
FLOPs / 2, for any architecture (Linear, Conv, LSTM/GRU, attention's bmm ...; an Embedding look-up,
normalisation, pooling and activations cost 0 MACs). A Linear layer costs in x out MACs, a
convolution (output elements) x (in_channels / groups) x kernel area, as the forward hooks on
Linear and Conv2d layers that this replaces counted them. The backward pass is what autograd
runs for the parameters' gradients: every layer's weight gradient, plus the input gradient of
every layer but those whose input needs none (the first layer reads the data, so its input
gradient is never computed). oneDNN's fused LSTM, which the counter cannot see into, is switched
off for the count (the MACs are the same).

The activation count is the number of output values, for one example, of every module with
parameters of its own other than normalisation (Linear, Conv, LSTM, Embedding, attention ...):
the values a device writes to memory per example. For the built-in CNNs and MLPs these are the
Linear and Conv layers' outputs, as before. Both feed the energy model.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from ..workload import Workload
from ._layers import _NORMS


def profile_model(model: nn.Module, input_shape: tuple[int, ...], *, tokens: bool = False) -> Workload:
    """The workload of one example of ``input_shape`` (token ids when ``tokens``): parameters,
    forward MACs, backward MACs (``Workload.backward_macs``; None when no gradient flows),
    activations and input size."""
    _skip_dynamo_import()
    activations = 0

    def count(_module: nn.Module, _inputs, output) -> None:
        nonlocal activations
        first = output if isinstance(output, torch.Tensor) else next((t for t in _leaves(output) if isinstance(t, torch.Tensor)), None)
        activations += 0 if first is None else first.numel()  # a batch of one example

    writers = [m for m in model.modules() if not isinstance(m, _NORMS) and next(m.parameters(recurse=False), None) is not None]
    hooks = [m.register_forward_hook(count) for m in writers]
    trainable = [p for p in model.parameters() if p.requires_grad]
    x = torch.zeros((1, *input_shape), dtype=torch.int64 if tokens else torch.float32)
    was_training = model.training
    try:
        model.eval()
        with warnings.catch_warnings(), FlopCounterMode(display=False) as counter:
            warnings.simplefilter("ignore", UserWarning)  # torch.backends.mkldnn.flags' note on TF32
            with torch.backends.mkldnn.flags(enabled=False):
                out = model(x)
                forward = counter.get_total_flops()
                if trainable and out.requires_grad:
                    torch.autograd.grad(out.float().sum(), trainable, allow_unused=True)
            backward = counter.get_total_flops() - forward
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return Workload(
        params=int(sum(p.numel() for p in model.parameters())),
        macs=forward / 2,
        activations=int(activations),
        input_size=int(math.prod(input_shape)),
        backward_macs=backward / 2 if backward > 0 else None,
    )


def _skip_dynamo_import() -> None:
    """Spare the counter's first call an import of torch._dynamo (seconds: sympy, scipy ...).

    torch wraps every dispatch mode's ``__torch_dispatch__`` in ``torch._disable_dynamo``, which
    imports torch._dynamo on the first call only to mark the function as not to be compiled, and
    caches the marked function on it as ``__dynamo_disable``. Nothing here is compiled, so the cache
    is pre-set to the plain function; should torch's layout change, this does nothing.
    """
    raw = getattr(getattr(flop_counter, "_FlopCounterMode", None), "__torch_dispatch__", None)
    raw = getattr(raw, "__wrapped__", None)
    if raw is not None and getattr(raw, "__dynamo_disable", None) is None:
        setattr(raw, "__dynamo_disable", raw)


def _leaves(output):
    """The tensors of a nested tuple/list output (an LSTM's ``(out, (h, c))``), first first."""
    if isinstance(output, (tuple, list)):
        for item in output:
            yield from _leaves(item)
    else:
        yield output
