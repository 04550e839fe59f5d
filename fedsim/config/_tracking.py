"""The ``tracking`` section: where a run's ledger is mirrored (``tracking=none|tensorboard|mlflow|wandb``).

The trackers are optional extras (``pip install 'fedsim[tracking]'`` for TensorBoard and MLflow,
``'fedsim[wandb]'`` for W&B); choosing one whose package
is missing is a one-line error before any work.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._checks import check_choice, check_optional_str
from ..errors import ConfigError
from ..tracking import TRACKERS, tracker_module_missing

TRACKING_KINDS = ("none", *TRACKERS)


@dataclass(frozen=True)
class TrackingConfig:
    kind: str = "none"  # none | tensorboard | mlflow | wandb: where the ledger's rounds are mirrored
    uri: str | None = None  # mlflow: a file store path or a server URI (None: ./mlruns)
    experiment: str | None = None  # mlflow experiment / W&B project (None: the sweep, or "fedsim")

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, TRACKING_KINDS)
        check_optional_str("uri", self.uri, "a path or URI of an MLflow tracking store, or null")
        check_optional_str("experiment", self.experiment, "a name, or null")
        missing = tracker_module_missing(self.kind)
        if missing is not None:
            package, extra = missing
            raise ConfigError("kind", self.kind, f"a tracker whose package is installed ({package} is not: pip install 'fedsim[{extra}]')")
