"""Constants of the convergence bound of quantized FL (Kim et al., Green-QFL, IEEE TWC 2023).

Defaults are the Green-QFL release's values (docs/reproductions/kim2023-green-qfl.md, "Convergence and round
count"). The bound assumes L-smooth, mu-strongly convex losses and the decaying step
eta_t = beta / (t + gamma) with beta > 1/mu.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedsim._checks import check_float
from fedsim.errors import ConfigError


@dataclass(frozen=True)
class ConvergenceConstants:
    """L, mu, beta, gamma, G, Gamma, rho and the target optimality gap epsilon.

    ``beta=None`` means the release's choice beta = 2/mu (so beta·mu − 1 = 1).
    """

    L: float = 0.097  # smoothness
    mu: float = 0.05  # strong convexity
    beta: float | None = None  # step-size numerator, must exceed 1/mu; None -> 2/mu
    gamma: float = 1.0  # step-size offset
    G: float = 0.25  # bound on the stochastic-gradient second moment (G^2)
    Gamma: float = 0.6  # non-IID gap
    rho: float = 100.0  # QNN error constant (rho - mu multiplies the quantization error)
    epsilon: float = 0.1  # target optimality gap

    def __post_init__(self) -> None:
        check_float("L", self.L, low=0, low_open=True)
        check_float("mu", self.mu, low=0, low_open=True)
        if self.beta is None:
            object.__setattr__(self, "beta", 2.0 / self.mu)
        beta = check_float("beta", self.beta, low=0, low_open=True)
        if beta * self.mu <= 1.0:
            raise ConfigError("beta", self.beta, f"a number > 1/mu = {1.0 / self.mu:g}")
        check_float("gamma", self.gamma, low=0)
        check_float("G", self.G, low=0)
        check_float("Gamma", self.Gamma, low=0)
        check_float("rho", self.rho, low=self.mu, low_open=True)
        check_float("epsilon", self.epsilon, low=0, low_open=True)
        for name in ("L", "mu", "beta", "gamma", "G", "Gamma", "rho", "epsilon"):
            object.__setattr__(self, name, float(getattr(self, name)))
