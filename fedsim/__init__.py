"""fedsim: federated learning over wireless networks, where energy, precision and the radio decide
what learning costs.

Entry points: ``fedsim.run(config, output_dir) -> RunResult``, and ``fedsim.resume(output_dir)``
to continue a killed run. The public names are imported on
first use (PEP 562), so ``import fedsim.world`` or ``import fedsim.config`` does not load torch,
flwr or pymoo.
"""

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "compose": "._compose",
    "run": "._run",
    "resume": "._run",
    "run_flower_app": "._run_app",
    "RunConfig": ".config",
    "ClientAppError": ".errors",
    "ConfigError": ".errors",
    "DataError": ".errors",
    "ModelDivergedError": ".errors",
    "NothingAggregatedError": ".errors",
    "RunResult": ".result",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["compose", "ClientAppError", "ConfigError", "DataError", "ModelDivergedError", "NothingAggregatedError", "RunConfig", "RunResult", "__version__", "resume", "run", "run_flower_app"]
