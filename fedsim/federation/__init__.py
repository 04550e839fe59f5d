"""Federation: Flower ClientApp and ServerApp, the QuantizedFedAvg strategy, local training."""

from ._aggregate import sample_devices, weighted_average
from ._job import Job, config_to_run_config, job_from_run_config
from ._local_training import evaluate, train_locally
from .client_app import app as client_app
from .server_app import app as server_app
from .server_app import build_world, run_federation
from .strategy import QuantizedFedAvg, RoundReport

__all__ = [
    "Job",
    "QuantizedFedAvg",
    "RoundReport",
    "build_world",
    "client_app",
    "config_to_run_config",
    "evaluate",
    "job_from_run_config",
    "run_federation",
    "sample_devices",
    "server_app",
    "train_locally",
    "weighted_average",
]
