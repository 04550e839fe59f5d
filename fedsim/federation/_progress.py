"""The round-end callback that drives the run's progress bar (accuracy and energy so far)."""

from __future__ import annotations

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
