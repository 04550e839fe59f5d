"""Federation: Flower ClientApp and ServerApp, the QuantizedFedAvg strategy, local training.

The Flower apps are ``fedsim.federation.client_app:app`` and ``fedsim.federation.server_app:app``
(the component paths Flower's ``[tool.flwr.app.components]`` expects)."""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "AdapterLMTask": "._lm_task",
    "ClassifierTask": "._classifier",
    "LanguageModelTask": "._lm_base",
    "MaskLMTask": "._mask_task",
    "LocalResult": "._task",
    "Task": "._task",
    "build_task": "._job",
    "config_to_run_config": "._job",
    "task_from_run_config": "._job",
    "evaluate": "._local_training",
    "train_locally": "._local_training",
    "weighted_average": "._aggregate",
    "build_optimizer": "._optimizer",
    "build_world": ".server_app",
    "run_federation": ".server_app",
    "QuantizedFedAvg": ".strategy",
    "RoundReport": ".strategy",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
