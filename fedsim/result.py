"""RunResult: what ``fedsim.run`` returns (the same numbers the ledger files hold)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunResult:
    summary: dict[str, Any]
    rounds: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    output_dir: Path | None = None
    final_state: dict[str, Any] = field(default_factory=dict, repr=False)
    policy_state: dict[str, Any] = field(default_factory=dict)  # the policy's state_dict() at the end

    @property
    def final_accuracy(self) -> float:
        return self.summary["final_accuracy"]

    @property
    def total_energy_j(self) -> float:
        return self.summary["total_energy_j"]
