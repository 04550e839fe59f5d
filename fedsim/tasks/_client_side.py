"""The client side of a strategy: what a device does differently while training locally.

Read from a TRAIN message's config, as a strategy sends it, so the same keys work under any
Flower server: ``proximal-mu`` (FedProx: μ/2·‖w - w_global‖² added to the local loss),
``loss-at-global`` (q-FedAvg: also report the local loss of the received global model) and
``scaffold`` (SCAFFOLD: gradients corrected by control variates, see ``_control_variates``; the
ClientApp fills ``correction`` from the received and the kept variates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROXIMAL_MU = "proximal-mu"  # Flower's FedProx key
LOSS_AT_GLOBAL = "loss-at-global"
SCAFFOLD = "scaffold"


@dataclass(frozen=True)
class ClientSide:
    proximal_mu: float = 0.0
    loss_at_global: bool = False
    scaffold: bool = False
    # c - c_i per update entry (SCAFFOLD), numpy arrays: per device, so not part of equality
    correction: tuple[Any, ...] | None = field(default=None, compare=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ClientSide":
        return cls(proximal_mu=float(config.get(PROXIMAL_MU, 0.0)), loss_at_global=bool(config.get(LOSS_AT_GLOBAL, False)),
                   scaffold=bool(config.get(SCAFFOLD, False)))


PLAIN = ClientSide()  # FedAvg's client: local SGD on the data loss alone
