"""Tiny ``model=custom`` factories for the tests (importable: pytest puts tests/qnn on sys.path)."""

from __future__ import annotations

import math

from torch import nn


class TinyNet(nn.Module):
    """An MLP of plain Linear layers; takes ``input_shape`` and ``num_classes`` from the task."""

    def __init__(self, input_shape, num_classes, width=16):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(), nn.Linear(width, num_classes))

    def forward(self, x):
        return self.net(x)


def tiny_cnn(num_classes, channels=4):
    """A function factory (no input_shape: it reads 8x8 images): conv 3x3 + linear."""
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(channels * 64, num_classes))


class RowLSTM(nn.Module):
    """An LSTM reading an image's rows as a sequence: what quantization and torch.func cannot take."""

    def __init__(self, input_shape, num_classes, hidden=8):
        super().__init__()
        self.lstm = nn.LSTM(input_shape[-1], hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        out, _ = self.lstm(x.flatten(1, 2))
        return self.head(out[:, -1])


class WithDropout(TinyNet):
    def __init__(self, input_shape, num_classes):
        super().__init__(input_shape, num_classes)
        self.net.insert(3, nn.Dropout(0.5))


def not_a_module(num_classes):
    return {"classes": num_classes}


def needs_vocab(input_shape, num_classes, vocab_size):
    """Records what it was given (for the keyword-passing test)."""
    net = TinyNet(input_shape, num_classes)
    net.given = (input_shape, num_classes, vocab_size)
    return net


def wide_output(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes + 1))



class _Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(2, channels), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(2, channels))

    def forward(self, x):
        return nn.functional.relu(x + self.body(x))


def small_resnet(input_shape, num_classes, width=16):
    """A user's own ResNet for colour images: stem, two residual blocks, global pooling."""
    return nn.Sequential(nn.Conv2d(input_shape[0], width, 3, stride=2, padding=1), nn.GroupNorm(2, width), nn.ReLU(),
                         _Block(width), _Block(width),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
