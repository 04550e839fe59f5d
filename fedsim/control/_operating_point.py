"""OperatingPoint: what the server controls each round (the ``op`` section): n, m, I and K."""

from __future__ import annotations

from dataclasses import dataclass

from fedsim._checks import check_int


@dataclass
class OperatingPoint:
    """What the server controls each round: precisions n and m, local iterations I, devices K."""

    train_bits: int = 8  # n: fixed-point precision of local training's weights and activations (32: float)
    uplink_bits: int = 8  # m: bits per value of the uploaded update (stochastic rounding, one scale per tensor; 32: float)
    local_iters: int = 5  # I: local iterations (mini-batches of train.batch_size) per round
    devices_per_round: int = 10  # K: devices selected per round (asynchronous strategies: strategy.concurrency's default)

    def __post_init__(self) -> None:
        self.train_bits = check_int("train_bits", self.train_bits, 1, 32)
        self.uplink_bits = check_int("uplink_bits", self.uplink_bits, 1, 32)
        self.local_iters = check_int("local_iters", self.local_iters, 1)
        self.devices_per_round = check_int("devices_per_round", self.devices_per_round, 1)
