"""Central differential privacy with adaptive clipping, on the server (Andrew et al., NeurIPS
2021; Flower's ``DifferentialPrivacyServerSideAdaptiveClipping`` around its ``FedAvg``): the
clipping norm follows a target quantile of the update norms, learnt geometrically."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_float
from ..errors import ConfigError
from ._base import StrategyParams, flower_sampling

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(StrategyParams):
    noise_multiplier: float = 0.5  # σ (with K = 10 and the default count noise, below 1)
    initial_clipping_norm: float = 0.1  # C of the first round: the L2 bound each update is clipped to, then adapted
    target_clipped_quantile: float = 0.5  # γ of Flower's update C <- C·exp(-clip_norm_lr·(noisy clipped fraction - γ))
    clip_norm_lr: float = 0.2  # η_C: step size of the geometric update of C
    clipped_count_stddev: float | None = None  # std of the noise on the clipped count (None: K / 20)

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise_multiplier", check_float("noise_multiplier", self.noise_multiplier, low=0))
        object.__setattr__(self, "initial_clipping_norm", check_float("initial_clipping_norm", self.initial_clipping_norm, low=0, low_open=True))
        object.__setattr__(self, "target_clipped_quantile", check_float("target_clipped_quantile", self.target_clipped_quantile, low=0, high=1))
        object.__setattr__(self, "clip_norm_lr", check_float("clip_norm_lr", self.clip_norm_lr, low=0, low_open=True))
        if self.clipped_count_stddev is not None:
            object.__setattr__(self, "clipped_count_stddev", check_float("clipped_count_stddev", self.clipped_count_stddev, low=0, low_open=True))

    def count_stddev(self, run: Any) -> float:
        return self.clipped_count_stddev if self.clipped_count_stddev is not None else run.op.devices_per_round / 20

    def check_run(self, run: Any) -> None:
        # The count's noise takes a share of the privacy budget: σ must stay below 2·σ_count.
        stddev = self.count_stddev(run)
        if self.noise_multiplier > 0 and self.noise_multiplier >= 2 * stddev:
            raise ConfigError("strategy.noise_multiplier", self.noise_multiplier,
                              f"a value below 2 x strategy.clipped_count_stddev = {2 * stddev:g} (default op.devices_per_round / 20; raise it)")


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import DifferentialPrivacyServerSideAdaptiveClipping, FedAvg

    return DifferentialPrivacyServerSideAdaptiveClipping(
        FedAvg(**flower_sampling()), params.noise_multiplier, run.op.devices_per_round,
        initial_clipping_norm=params.initial_clipping_norm, target_clipped_quantile=params.target_clipped_quantile,
        clip_norm_lr=params.clip_norm_lr, clipped_count_stddev=params.count_stddev(run),
    )
