"""Quantized models: an MLP, a small CNN and the 5-conv CNN of the green quantized-FL paper."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ._layers import QuantConv2d, QuantLinear
from ._names import MODELS

InputShape = tuple[int, int, int]


class QuantMLP(nn.Module):
    def __init__(self, input_shape: InputShape, num_classes: int, hidden: tuple[int, ...] = (128, 64)):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = input_shape[0] * input_shape[1] * input_shape[2]
        for h in hidden:
            layers += [QuantLinear(width, h), nn.ReLU()]
            width = h
        layers.append(QuantLinear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class QuantSmallCNN(nn.Module):
    """Two 3x3 conv blocks and a linear head: a cheap CNN for quick experiments."""

    def __init__(self, input_shape: InputShape, num_classes: int, channels: tuple[int, int] = (16, 32)):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            QuantConv2d(input_shape[0], c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            QuantConv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), QuantLinear(c2 * 4, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class QuantPaperCNN(nn.Module):
    """The 5-conv QNN of Kim et al. (green quantized FL, P2 release).

    3x3 convs 1->128->64->64->32->32, BatchNorm after each, leaky ReLU, max-pool after conv 1
    and 2; after conv 5 a global max-pool, which is what makes the first FC layer's input 32
    wide as the paper states; then FC 32->2000->100->classes. About 407k parameters.
    """

    CHANNELS = (128, 64, 64, 32, 32)

    def __init__(self, input_shape: InputShape, num_classes: int):
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = input_shape[0]
        for index, c_out in enumerate(self.CHANNELS):
            blocks += [QuantConv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU()]
            if index in (0, 1):
                blocks.append(nn.MaxPool2d(2))
            c_in = c_out
        blocks.append(nn.AdaptiveMaxPool2d(1))
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Flatten(),
            QuantLinear(c_in, 2000), nn.LeakyReLU(),
            QuantLinear(2000, 100), nn.LeakyReLU(),
            QuantLinear(100, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(
    name: str, input_shape: InputShape, num_classes: int, *, seed: int, hidden: tuple[int, ...] = (128, 64)
) -> nn.Module:
    """Build a quantized model with weights initialised from ``seed`` (same seed, same weights)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "mlp":
            return QuantMLP(input_shape, num_classes, tuple(hidden))
        if name == "cnn":
            return QuantSmallCNN(input_shape, num_classes)
        if name == "qcnn5":
            return QuantPaperCNN(input_shape, num_classes)
    raise ConfigError("model.name", name, f"one of {', '.join(MODELS)}")
