"""The run's progress: the round-end callback that drives its progress bar (accuracy and energy so
far), and, under Flower's runtimes (``flwr run``), one log line per round instead."""

from __future__ import annotations

import logging
from typing import Any

from tqdm.auto import tqdm

from ._round_report import RoundReport


class ProgressBar:
    def __init__(self, rounds: int, *, enabled: bool, done: int = 0) -> None:
        """``done``: rounds an earlier attempt completed (a resumed run)."""
        self.bar = tqdm(total=rounds, initial=done, desc="fedsim rounds", unit="round", disable=not enabled, leave=True)
        self.energy_j = 0.0

    def on_round_end(self, report: RoundReport) -> None:
        if report.outcome is None:
            return
        self.energy_j += report.outcome.energy_j
        self.bar.update(1)
        self.bar.set_postfix(acc=f"{report.metrics['accuracy']:.3f}", energy_j=f"{self.energy_j:.3g}")

    def close(self) -> None:
        self.bar.close()

    def erase(self) -> None:
        """Close the bar and clear its line: a run that ends in an error shows that one line only."""
        self.bar.leave = False
        self.bar.close()


# A child of Flower's logger: its console handler writes it, and the ServerApp process's
# stdout/stderr are what `flwr run --stream` shows. Its own level keeps it on while
# quiet_flower_log silences Flower's (the parent's) INFO lines.
ROUND_LOGGER = logging.getLogger("flwr.fedsim")
ROUND_LOGGER.setLevel(logging.INFO)


class RoundLog:
    """A ledger listener: one INFO line per recorded rounds.csv row (round 0 is the initial model;
    an asynchronous run's rows are its aggregations)."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def __call__(self, row: dict[str, Any]) -> None:
        accuracy = row["test_accuracy"]
        dropped = row["selected"] - row["delivered"]
        ROUND_LOGGER.info(
            "fedsim round %d/%d: accuracy %s, energy %.4g J (total %.4g J), simulated %.4g s, drops %d of %d",
            row["round"], self.rounds, "n/a" if accuracy is None or accuracy != accuracy else f"{accuracy:.4f}",
            row["energy_round_j"], row["energy_cum_j"], row["sim_time_s"], dropped, row["selected"],
        )
