"""fedsim: federated learning over wireless networks, where energy, precision and the radio decide
what learning costs.

Entry point: ``fedsim.run(config, output_dir) -> RunResult``.
"""

from ._compose import compose
from ._run import run
from .config import RunConfig
from .errors import ConfigError, DataError
from .result import RunResult

__version__ = "0.1.0"

__all__ = ["compose", "ConfigError", "DataError", "RunConfig", "RunResult", "__version__", "run"]
