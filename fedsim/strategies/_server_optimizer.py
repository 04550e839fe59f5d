"""The keys the adaptive server optimizers (FedAdam, FedYogi, FedAdagrad) share."""

from __future__ import annotations

from dataclasses import dataclass, fields

from .._checks import check_float
from ._base import StrategyParams


@dataclass(frozen=True)
class AdaptiveParams(StrategyParams):
    """η (server step), η_l (the clients' step, which Flower only records), τ (adaptivity);
    FedAdam and FedYogi add β1 and β2 (moment decays, in [0, 1))."""

    eta: float = 1e-1
    eta_l: float = 1e-1
    tau: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("eta", "eta_l", "tau"):
            object.__setattr__(self, name, check_float(name, getattr(self, name), low=0, low_open=True))
        for f in fields(self):
            if f.name.startswith("beta_"):
                object.__setattr__(self, f.name, check_float(f.name, getattr(self, f.name), low=0, high=1, high_open=True))
