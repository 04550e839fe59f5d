"""OperatingPoint: what the server controls each round (the ``op`` section): n, m, I and K."""

from __future__ import annotations

from dataclasses import dataclass

from fedsim._checks import check_int


@dataclass
class OperatingPoint:
    """What the server controls each round: precisions n and m, local iterations I, devices K."""

    train_bits: int = 8
    uplink_bits: int = 8
    local_iters: int = 5
    devices_per_round: int = 10

    def __post_init__(self) -> None:
        self.train_bits = check_int("train_bits", self.train_bits, 1, 32)
        self.uplink_bits = check_int("uplink_bits", self.uplink_bits, 1, 32)
        self.local_iters = check_int("local_iters", self.local_iters, 1)
        self.devices_per_round = check_int("devices_per_round", self.devices_per_round, 1)
