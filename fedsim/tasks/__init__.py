"""Tasks: what a federation learns, and how a device learns it locally.

A :class:`Task` holds the global state a run starts from, a device's local update (local SGD at
the operating point, with the client side of the chosen strategy: FedProx's proximal term,
SCAFFOLD's control variates), the server's evaluation and the compute workload the World prices.
fedsim ships a quantized classifier (``ClassifierTask``), the adapters of a compressed language
model (``AdapterLMTask``) and its learnable masks (``MaskLMTask``). Nothing here knows Flower's
runtime or the physics: the federation package carries tasks over Flower, the World prices them.
"""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "AdapterLMTask": "._lm_task",
    "ClassifierTask": "._classifier",
    "ClientSide": "._client_side",
    "LanguageModelTask": "._lm_base",
    "MaskLMTask": "._mask_task",
    "LocalResult": "._task",
    "Task": "._task",
    "build_task": "._build",
    "evaluate": "._local_training",
    "train_locally": "._local_training",
    "weighted_average": "._aggregate",
    "build_optimizer": "._optimizer",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
