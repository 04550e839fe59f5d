"""Federation: Flower ClientApp and ServerApp, the QuantizedFedAvg strategy, local training."""

from ._aggregate import sample_devices, weighted_average
from ._classifier import ClassifierTask
from ._job import build_task, config_to_run_config, task_from_run_config
from ._task import LocalResult, Task
from ._local_training import evaluate, train_locally
from .client_app import app as client_app
from .server_app import app as server_app
from .server_app import build_world, run_federation
from .strategy import QuantizedFedAvg, RoundReport

__all__ = [
    "ClassifierTask",
    "LocalResult",
    "Task",
    "build_task",
    "QuantizedFedAvg",
    "RoundReport",
    "build_world",
    "client_app",
    "config_to_run_config",
    "evaluate",
    "task_from_run_config",
    "run_federation",
    "sample_devices",
    "server_app",
    "train_locally",
    "weighted_average",
]
