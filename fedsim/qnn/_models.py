"""Quantized models: an MLP, a small CNN, the 5-conv CNN of the green quantized-FL paper,
FedAvg's CNN, CIFAR ResNets, LEAF's character LSTM, and any ``nn.Module`` (``model=custom``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ._custom import build_custom_model
from ._layers import QuantConv2d, QuantLinear
from ._names import CUSTOM_MODEL, MODELS, TOKEN_MODELS

InputShape = tuple[int, ...]  # one example: (C, H, W) images, (D,) features or (L,) token ids


class QuantMLP(nn.Module):
    def __init__(self, input_shape: InputShape, num_classes: int, hidden: tuple[int, ...] = (128, 64)):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
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


class QuantCifarCNN(nn.Module):
    """The CNN of McMahan et al. (2017, FedAvg): two 5x5 convs of 32 and 64 channels ("same"
    padding), each followed by ReLU and a 2x2 max-pool, FC 512 with ReLU, FC to the classes.

    On 28x28 MNIST it is their 1,663,370-parameter CNN; on 32x32x3 CIFAR it has 2,156,490
    parameters and 17.7M MACs. (Their own CIFAR runs used TensorFlow's tutorial CNN, with local
    response normalisation; this one, the FedAvg CNN at 32x32, is the simpler common choice.)
    """

    def __init__(self, input_shape: InputShape, num_classes: int):
        super().__init__()
        c, h, w = input_shape
        if h < 4 or w < 4:
            raise ConfigError("model.name", "cifar_cnn", f"a model for images of at least 4x4 (two 2x2 max-pools), not {input_shape}")
        self.features = nn.Sequential(
            QuantConv2d(c, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            QuantConv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), QuantLinear(64 * (h // 4) * (w // 4), 512), nn.ReLU(), QuantLinear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(2, channels)


class _BasicBlock(nn.Module):
    """Two 3x3 convs with norms; the shortcut is He et al.'s option A for CIFAR (identity,
    subsampled and zero-padded in channels when the shape changes: no parameters)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = QuantConv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.norm1 = _norm(c_out)
        self.conv2 = QuantConv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = _norm(c_out)
        self.stride, self.extra = stride, c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm2(self.conv2(F.relu(self.norm1(self.conv1(x)))))
        shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.extra:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(out + shortcut)


class QuantResNet(nn.Module):
    """He et al.'s (2016) CIFAR ResNet of depth 6n+2: a 3x3 conv to 16 channels, three stages of
    n basic blocks with 16, 32 and 64 channels (the last two start with stride 2), global average
    pooling, FC to the classes. n = 1 is resnet8 (75k parameters), n = 3 resnet20 (0.27M
    parameters, 40.6M MACs at 32x32).

    GroupNorm (two groups per layer, as in Reddi et al. 2021) replaces BatchNorm: Hsieh et al.
    (2020) showed BatchNorm's batch statistics fail under non-IID client data, and GroupNorm,
    which normalises each example on its own, is the usual choice in FL since.
    """

    def __init__(self, input_shape: InputShape, num_classes: int, blocks_per_stage: int):
        super().__init__()
        layers: list[nn.Module] = [QuantConv2d(input_shape[0], 16, 3, padding=1, bias=False), _norm(16), nn.ReLU()]
        c_in = 16
        for stage, c_out in enumerate((16, 32, 64)):
            for block in range(blocks_per_stage):
                layers.append(_BasicBlock(c_in, c_out, 2 if stage > 0 and block == 0 else 1))
                c_in = c_out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.head = nn.Sequential(nn.Flatten(), QuantLinear(c_in, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class QuantCharLSTM(nn.Module):
    """LEAF's Shakespeare next-character model (Caldas et al. 2018): Embedding(vocab, 8), stacked
    LSTMs (LEAF: two of 256 units; here ``hidden``, two of 128 by default, cheap on a CPU), and a
    Linear from the last position's hidden state to the classes.

    Only the Linear is quantized; the Embedding and the LSTMs train in float32 (a warning names
    them when n < 32).
    """

    EMBEDDING = 8

    def __init__(self, vocab_size: int, num_classes: int, hidden: tuple[int, ...] = (128, 128)):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, self.EMBEDDING)
        widths = (self.EMBEDDING, *hidden)
        self.lstm = nn.ModuleList(nn.LSTM(a, b, batch_first=True) for a, b in zip(widths, widths[1:]))
        self.head = QuantLinear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        for layer in self.lstm:
            h, _ = layer(h)
        return self.head(h[:, -1])


def _check_inputs(name: str, input_shape: InputShape, vocab_size: int | None) -> None:
    """A one-line ConfigError when ``name`` is not built for the data's kind of input."""
    tokens = name in TOKEN_MODELS
    if tokens == (vocab_size is not None) and (tokens or name == "mlp" or len(input_shape) == 3):
        return
    shape = tuple(input_shape)
    has = f"token ids of shape {shape}" if vocab_size is not None else f"{'images' if len(shape) == 3 else 'features'} of shape {shape}"
    reads = "token ids (L,)" if tokens else ("images (C, H, W) or features (D,)" if name == "mlp" else "images (C, H, W)")
    raise ConfigError("model.name", name, f"a model for the dataset's {has} ({name} reads {reads})")


def build_model(
    name: str,
    input_shape: InputShape,
    num_classes: int,
    *,
    seed: int,
    hidden: tuple[int, ...] = (128, 64),
    vocab_size: int | None = None,
    target: str | None = None,
    kwargs: dict | None = None,
) -> nn.Module:
    """Build a quantized model with weights initialised from ``seed`` (same seed, same weights).

    ``vocab_size`` is the token models' vocabulary (None: image or feature inputs); ``target``
    and ``kwargs`` build ``model=custom`` (see :func:`build_custom_model`)."""
    if name not in MODELS:
        raise ConfigError("model.name", name, f"one of {', '.join(MODELS)}")
    if name == CUSTOM_MODEL:
        return build_custom_model(target, kwargs or {}, input_shape, num_classes, seed=seed, vocab_size=vocab_size)
    _check_inputs(name, input_shape, vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "mlp":
            return QuantMLP(input_shape, num_classes, tuple(hidden))
        if name == "cnn":
            return QuantSmallCNN(input_shape, num_classes)
        if name == "qcnn5":
            return QuantPaperCNN(input_shape, num_classes)
        if name == "cifar_cnn":
            return QuantCifarCNN(input_shape, num_classes)
        if name in ("resnet8", "resnet20"):
            return QuantResNet(input_shape, num_classes, blocks_per_stage=1 if name == "resnet8" else 3)
        return QuantCharLSTM(vocab_size, num_classes, tuple(hidden))
