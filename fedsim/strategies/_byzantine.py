"""The key the Byzantine-robust selections (Krum, Multi-Krum, Bulyan) share: f, the number of
malicious devices among a round's selected ones they must tolerate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_int
from ..errors import ConfigError
from ._base import StrategyParams


@dataclass(frozen=True)
class ByzantineParams(StrategyParams):
    num_malicious: int = 1  # f

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_malicious", check_int("num_malicious", self.num_malicious, 0))

    def min_devices(self) -> int:
        """The fewest updates a round must deliver for this rule to be defined with its f."""
        return 2 * self.num_malicious + 3  # Krum: n - f - 2 >= 1 neighbours, n > 2f + 2

    def check_run(self, run: Any) -> None:
        k, need = run.op.devices_per_round, self.min_devices()
        if k < need:
            raise ConfigError(
                "strategy.num_malicious", self.num_malicious,
                f"an f for which {run.strategy.name} has enough updates: it needs >= {need} devices per round "
                f"for f={self.num_malicious}, and op.devices_per_round={k}",
            )
