"""profile_model: forward and backward MACs counted by torch's FlopCounterMode, against hand counts
and against the Linear/Conv2d hook formula the built-in models were priced with before."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fedsim.qnn import build_model, profile_model


def hook_formula_macs(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """The forward MACs of the former hook counter: in x out per Linear, (outputs) x (in / groups)
    x kernel area per Conv2d, on one example of zeros."""
    macs = 0

    def count(module, _inputs, output):
        nonlocal macs
        if isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features
        else:
            macs += output[0].numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros((1, *input_shape)))
    for hook in hooks:
        hook.remove()
    return float(macs)


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mlp", (1, 8, 8)), ("cnn", (1, 8, 8)), ("qcnn5", (1, 28, 28)), ("cifar_cnn", (3, 32, 32)), ("resnet8", (3, 32, 32)), ("resnet20", (3, 32, 32))],
)
def test_built_in_models_forward_macs_are_the_hook_formulas(name, shape):
    model = build_model(name, shape, 10, seed=0)
    w = profile_model(model, shape)
    assert w.macs == hook_formula_macs(model, shape)
    assert w.macs < w.backward_macs <= 2 * w.macs  # the first layer computes no input gradient


def test_resnet_and_fedavg_cnn_sizes_are_the_papers():
    assert sum(p.numel() for p in build_model("resnet20", (3, 32, 32), 10, seed=0).parameters()) == 269_722  # He et al.: 0.27M
    assert sum(p.numel() for p in build_model("cifar_cnn", (1, 28, 28), 10, seed=0).parameters()) == 1_663_370  # McMahan et al.
    assert profile_model(build_model("resnet20", (3, 32, 32), 10, seed=0), (3, 32, 32)).macs == 40_551_040  # He et al.: 41M FLOPs


def test_a_small_cnn_counted_by_hand_forward_and_backward():
    # conv 2->3 channels 3x3 (padding 1) on 5x5, then Linear 75 -> 4
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(75, 4))
    w = profile_model(model, (2, 5, 5))
    conv = 5 * 5 * 3 * (2 * 9)  # output elements x (in channels x kernel area)
    linear = 75 * 4
    assert w.macs == conv + linear
    # Backward: each layer's weight gradient (its forward's MACs) and the Linear's input gradient
    # (75 x 4 again); the conv's input gradient is the data's, which nothing needs.
    assert w.backward_macs == conv + 2 * linear
    assert w.backward_macs < 2 * w.macs
    assert w.params == (2 * 9 * 3 + 3) + (75 * 4 + 4)
    assert w.activations == 75 + 4 and w.input_size == 50


def test_the_default_mlps_backward_is_not_twice_its_forward():
    w = profile_model(build_model("mlp", (1, 8, 8), 10, seed=0), (1, 8, 8))
    assert (w.macs, w.backward_macs) == (64 * 128 + 128 * 64 + 64 * 10, 2 * (64 * 128 + 128 * 64 + 64 * 10) - 64 * 128)


def test_lstm_and_embedding_of_token_inputs_by_hand():
    model = build_model("char_lstm", (6,), 5, seed=0, hidden=(4, 3), vocab_size=11)
    w = profile_model(model, (6,), tokens=True)  # int64 zeros: an Embedding look-up, 0 MACs
    lstm1, lstm2, head = 6 * 4 * 4 * (8 + 4), 6 * 4 * 3 * (4 + 3), 3 * 5  # steps x 4 gates x hidden x (input + hidden)
    assert w.macs == lstm1 + lstm2 + head
    # The first LSTM's input gradient is needed (the embedding learns); no step needs the
    # gradient of the zero initial state: 4 x hidden x hidden per layer less.
    assert w.backward_macs == 2 * w.macs - 4 * 4 * 4 - 4 * 3 * 3
    assert w.input_size == 6 and w.activations == 6 * 8 + 6 * 4 + 6 * 3 + 5
