"""The strategy registry: the vocabulary of ``strategy=NAME``, one line per algorithm file.

Adding an algorithm is one file in this folder (see ``_base``) and one line here.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

STRATEGIES: dict[str, str] = {
    # synchronous rounds
    "fedavg": ".fedavg",
    "fedavgm": ".fedavgm",
    "fedprox": ".fedprox",
    "fedadam": ".fedadam",
    "fedyogi": ".fedyogi",
    "fedadagrad": ".fedadagrad",
    "fedmedian": ".fedmedian",
    "fedtrimmedavg": ".fedtrimmedavg",
    "krum": ".krum",
    "multikrum": ".multikrum",
    "bulyan": ".bulyan",
    "qfedavg": ".qfedavg",
    "dp_fixed": ".dp_fixed",
    "dp_adaptive": ".dp_adaptive",
    "scaffold": ".scaffold",
    # the event-driven world
    "fedasync": ".fedasync",
    "fedbuff": ".fedbuff",
}
STRATEGY_NAMES = tuple(STRATEGIES)


@cache
def strategy_module(name: str) -> ModuleType:
    """The file of strategy ``name`` (its ``ASYNCHRONOUS``, ``Params`` and ``build``)."""
    return importlib.import_module(STRATEGIES[name], __package__)
