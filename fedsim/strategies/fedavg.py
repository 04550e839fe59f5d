"""FedAvg (McMahan et al., AISTATS 2017), fedsim's default: the example-weighted mean of the
delivered updates added to the global model.

fedsim's own file rather than Flower's ``FedAvg``: it averages the decoded updates Δ in float64
(the task's aggregation, so ``lm.aggregation=svd`` averages adapter products), where Flower's
averages ``global + Δ`` in float32. The two agree to float32 rounding; this one keeps fedsim's
ledgers bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._base import ClientUpdate, StrategyParams, UpdateStrategy

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(StrategyParams):
    pass


class ExactFedAvg(UpdateStrategy):
    def aggregate_updates(self, server_round: int, record: Any, updates: list[ClientUpdate], task: Any) -> tuple[Any, dict[str, Any]]:
        return task.aggregate(record, [u.update for u in updates], [u.num_examples for u in updates])


def build(params: Params, run: Any) -> ExactFedAvg:
    return ExactFedAvg()
