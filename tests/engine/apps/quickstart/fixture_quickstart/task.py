"""The model and data of the fixture app: a Linear 64 -> 10 classifier (640 MACs forward per
example, 640 backward: the weight gradient only, its input needs none) on synthetic 8x8 images,
64 per partition, drawn from the partition id (deterministic, no download)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EXAMPLES_PER_PARTITION = 64


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(x))


def _examples(seed: int, count: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(10, 1, 8, 8, generator=torch.Generator().manual_seed(1234))
    labels = torch.randint(0, 10, (count,), generator=generator)
    images = centres[labels] + 2.0 * torch.randn(count, 1, 8, 8, generator=generator)
    return TensorDataset(images, labels)


def load_data(partition_id: int, num_partitions: int, batch_size: int) -> tuple[DataLoader, DataLoader]:
    """This partition's train and test loaders."""
    train = _examples(1 + partition_id, EXAMPLES_PER_PARTITION)
    test = _examples(10_000 + partition_id, EXAMPLES_PER_PARTITION // 2)
    generator = torch.Generator().manual_seed(partition_id)
    return DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator), DataLoader(test, batch_size=batch_size)


def train(net: Net, loader: DataLoader, epochs: int, lr: float) -> float:
    """Train on the partition for ``epochs`` epochs; the mean training loss."""
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    net.train()
    running_loss = 0.0
    for _ in range(epochs):
        for images, labels in loader:
            optimizer.zero_grad()
            loss = criterion(net(images), labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
    return running_loss / (epochs * len(loader))


def test(net: Net, loader: DataLoader) -> tuple[float, float]:
    """(loss, accuracy) on the partition's test set."""
    criterion = nn.CrossEntropyLoss()
    net.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for images, labels in loader:
            outputs = net(images)
            loss += criterion(outputs, labels).item()
            correct += (outputs.argmax(1) == labels).sum().item()
    return loss / len(loader), correct / len(loader.dataset)
