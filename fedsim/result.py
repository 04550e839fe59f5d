"""RunResult: what ``fedsim.run`` returns (the same numbers the ledger files hold)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunResult:
    """What ``fedsim.run`` (and ``resume``, ``run_flower_app``) returns: the ledger's rows in memory.

    Attributes:
        summary: ``summary.json``'s mapping: final and best accuracy, energies in J, rounds and
            cost to reach the target, and what the run ran with.
        rounds: ``rounds.csv``'s rows, one mapping per round (round 0: the initial model).
        devices: ``devices.csv``'s rows, one mapping per selected device and round.
        output_dir: Where the files were written (None: nothing was written).
        final_state: The final global model's ``state_dict`` (torch tensors).
        policy_state: The policy's ``state_dict()`` at the end.
    """

    summary: dict[str, Any]
    rounds: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    output_dir: Path | None = None
    final_state: dict[str, Any] = field(default_factory=dict, repr=False)
    policy_state: dict[str, Any] = field(default_factory=dict)  # the policy's state_dict() at the end

    @property
    def final_accuracy(self) -> float:
        """Test accuracy of the last evaluated round (``summary["final_accuracy"]``)."""
        return self.summary["final_accuracy"]

    @property
    def total_energy_j(self) -> float:
        """Learning energy of the whole run in J (``summary["total_energy_j"]``)."""
        return self.summary["total_energy_j"]
