"""Federation: the Flower glue. The ClientApp and ServerApp, the wireless seam that runs any
strategy in the World (``WirelessStrategy``), the asynchronous server, the run's checkpoint and its end.

The Flower apps are ``fedsim.federation.client_app:app`` and ``fedsim.federation.server_app:app``
(the component paths Flower's ``[tool.flwr.app.components]`` expects). The algorithms live in
``fedsim.strategies``, what is learned in ``fedsim.tasks``."""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "config_to_run_config": "._job",
    "task_from_run_config": "._job",
    "build_world": ".server_app",
    "build_wireless_strategy": ".server_app",
    "run_federation": ".server_app",
    "RoundReport": "._round_report",
    "WirelessStrategy": "._wireless",
    "flower_replies": "._wireless",
    "write_config": "._config_file",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
