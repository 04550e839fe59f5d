import pytest
import torch

from fedsim.errors import ConfigError
from fedsim.qnn import QuantLinear, build_model, profile_model, set_precision


def test_profile_counts_macs_params_and_activations_of_an_mlp_by_hand():
    model = build_model("mlp", (1, 8, 8), 10, seed=0, hidden=(32, 16))
    w = profile_model(model, (1, 8, 8))
    assert w.macs == 64 * 32 + 32 * 16 + 16 * 10
    assert w.params == (64 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)
    assert w.activations == 32 + 16 + 10
    assert w.input_size == 64


def test_profile_counts_convolution_macs():
    model = build_model("cnn", (1, 8, 8), 10, seed=0)
    w = profile_model(model, (1, 8, 8))
    conv1 = 8 * 8 * 16 * 1 * 9  # 3x3, padding 1: 8x8 outputs per channel
    conv2 = 4 * 4 * 32 * 16 * 9  # after a 2x2 max-pool
    head = 32 * 4 * 10
    assert w.macs == conv1 + conv2 + head


def test_paper_cnn_has_about_407k_parameters():
    model = build_model("qcnn5", (1, 28, 28), 10, seed=0)
    params = sum(p.numel() for p in model.parameters())
    assert params == 407_462  # green_qfl.md: "about 407k" (the release's d = 411,598 is reported beside it)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_same_seed_same_initial_weights():
    a = build_model("cnn", (1, 8, 8), 10, seed=3).state_dict()
    b = build_model("cnn", (1, 8, 8), 10, seed=3).state_dict()
    c = build_model("cnn", (1, 8, 8), 10, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_precision_changes_the_forward_pass_of_quantized_layers():
    layer = QuantLinear(4, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.3, -0.7, 0.1, 0.9]] * 3))
        layer.bias.zero_()
    x = torch.tensor([[0.6, 0.2, -0.4, 1.0]])
    set_precision(layer, 32)
    full = layer(x)
    set_precision(layer, 2)  # grid 0.5: weights -> [0.5, -0.5, 0.0, 1.0], inputs -> [0.5, 0.0, -0.5, 1.0]
    assert layer(x)[0, 0].item() == pytest.approx(0.25 + 0.0 + 0.0 + 1.0)
    assert not torch.allclose(layer(x), full)


def test_unknown_model_names_the_key():
    with pytest.raises(ConfigError, match="model.name='resnet'"):
        build_model("resnet", (1, 8, 8), 10, seed=0)
