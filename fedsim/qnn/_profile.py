"""Measure a model's workload (parameters, MACs, activations) from the model itself.

One forward pass on a single zero sample with hooks on every Linear and Conv2d layer: a Linear
layer costs in x out MACs, a convolution costs (output elements) x (in_channels / groups) x
kernel area. The activation count is the number of outputs of those layers, i.e. the values a
device writes to memory per sample; both feed the energy model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..workload import Workload


def profile_model(model: nn.Module, input_shape: tuple[int, int, int]) -> Workload:
    macs = 0
    activations = 0

    def count(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal macs, activations
        outputs = output[0].numel()  # one sample
        if isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features
        else:
            conv = module
            kernel = math.prod(conv.kernel_size)
            macs += outputs * (conv.in_channels // conv.groups) * kernel
        activations += outputs

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape)))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return Workload(
        params=int(params),
        macs=float(macs),
        activations=int(activations),
        input_size=int(math.prod(input_shape)),
    )
