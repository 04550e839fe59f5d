"""``tracking=mlflow``: one MLflow run per fedsim run, in a local store with no server to run
(``tracking.uri``, default ``sqlite:///mlruns/mlflow.db``, artifacts beside it in ``mlruns/``) or
on a server when an ``http(s)://`` URI is given. MLflow 3 keeps its plain-directory file store
(``./mlruns`` as a path) in maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE`` is
set; fedsim sets it when ``tracking.uri`` names a directory, so that store works too.

Experiment: ``tracking.experiment``, else the sweep directory for a sweep's jobs (so MLflow's own
UI compares them), else ``fedsim``. Parameters: the run's overrides (a sweep's swept keys), its
seed and strategy, then the whole resolved configuration under ``config.``; metrics: every
rounds.csv column at step = round, and summary.json's numbers under ``summary.``; artifacts: the
run directory's config, ledger, figures and report. The MLflow run id is kept in the run
directory, so a resumed run continues it and skips the steps it had already logged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._base import Tracker, flat, scalars

DEFAULT_URI = "sqlite:///mlruns/mlflow.db"
_PARAM_CHARS = 6000  # MLflow's limit on a parameter value


def store_uri(uri: str | None) -> str:
    """The tracking URI to open: the default SQLite store (its folder made), a server, or a
    directory file store (allowed explicitly, see the module docstring)."""
    uri = uri or DEFAULT_URI
    # Their lines (database migrations, connection retries) would interleave the progress bar; a
    # failure reaches the user as the tracker's one warning line.
    for name, level in (("mlflow", logging.WARNING), ("alembic", logging.WARNING), ("urllib3", logging.ERROR)):
        logging.getLogger(name).setLevel(level)
    if uri.startswith(("http://", "https://")):  # a dead server costs seconds, not minutes of retries
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    elif "://" not in uri or uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def artifact_root(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store's file (MLflow would use
    ``./mlruns`` under the current directory), the server's or directory store's own otherwise."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent.resolve()).as_uri()
    return None


class MlflowTracker(Tracker):
    def start(self) -> None:
        self.uri = uri = store_uri(self.tracking.get("uri"))
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        saved = self.saved()
        self.logged: set[int] = set()
        if self.first_step and saved.get("kind") == "mlflow":
            self.run_id = saved["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            # A kill between a round's logging and its checkpoint: that round is redone, logged once.
            self.logged = {m.step for m in self.client.get_metric_history(self.run_id, "test_accuracy")}
            return
        name = self.tracking.get("experiment") or (f"fedsim sweep {self.sweep}" if self.sweep else "fedsim")
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name, artifact_location=artifact_root(self.uri))
        self.run_id = self.client.create_run(experiment_id, run_name=self.run_name).info.run_id
        self.save({"kind": "mlflow", "run_id": self.run_id, "experiment": name})
        from mlflow.entities import Param

        params = {**{k: v for k, v in self.params().items() if v is not None},
                  **{f"config.{k}": v for k, v in flat(self.config).items()}}
        items = [Param(k, str(v)[:_PARAM_CHARS]) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes 100 parameters a batch
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_round(self, row: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        step, now_ms = int(row["round"]), int(time.time() * 1000)
        if step in self.logged:
            return
        metrics = [Metric(k, v, now_ms, step) for k, v in scalars(row).items() if k != "round"]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, summary: Mapping[str, Any], failed: bool) -> None:
        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)
        last = int(summary.get("rounds") or 0)
        self.client.log_batch(self.run_id, metrics=[Metric(f"summary.{k}", v, now_ms, last) for k, v in scalars(summary).items()])
        for path in self.artifacts():
            self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


TRACKER = MlflowTracker
