"""Experiment tracking: a run's ledger mirrored into TensorBoard, MLflow or Weights & Biases.

The ledger stays the source of truth; a tracker is one more listener of it (``tracking=NAME``,
default ``none``). Each tracker is one file: per round, every rounds.csv column as a scalar at
step = round; per run, the resolved configuration as parameters, summary.json as final metrics,
and the run's files (config, ledger, figures, report) as artifacts. A tracker that cannot write
gives one warning line and the run goes on; a resumed run continues the same tracker run, each
step logged once.
"""

from ._base import TRACKERS, TRACKING_FILE, Tracker, open_tracker, tracker_module_missing

__all__ = ["TRACKERS", "TRACKING_FILE", "Tracker", "open_tracker", "tracker_module_missing"]
