"""Strategies: the federated algorithms, one file each, named by ``strategy=NAME``.

Flower's own (``flwr.serverapp.strategy``: FedAvgM, FedProx, FedAdam, FedYogi, FedAdagrad,
FedMedian, FedTrimmedAvg, Krum, Multi-Krum, Bulyan, q-FedAvg, server-side DP) and fedsim's
(the default exact FedAvg, and the asynchronous FedAsync and FedBuff). Every synchronous one runs
behind one wireless seam, ``fedsim.federation.WirelessStrategy``: the control plane picks the
devices, the World prices and filters their uploads, the low-bit payloads are decoded, and the
strategy aggregates what arrived. See ``_base`` for what a strategy file holds.
"""

from ._base import ClientUpdate, StrategyParams, UpdateStrategy, flower_sampling
from ._registry import STRATEGIES, STRATEGY_NAMES, strategy_module
from ._staleness import STALENESS_FUNCTIONS, AsyncParams


def build_strategy(name: str, params: StrategyParams, run) -> object:
    """The server-side object of strategy ``name`` for a run (a Flower ``Strategy``, an
    :class:`UpdateStrategy` or an asynchronous aggregation rule)."""
    return strategy_module(name).build(params, run)


__all__ = [
    "AsyncParams",
    "ClientUpdate",
    "STALENESS_FUNCTIONS",
    "STRATEGIES",
    "STRATEGY_NAMES",
    "StrategyParams",
    "UpdateStrategy",
    "build_strategy",
    "flower_sampling",
    "strategy_module",
]
