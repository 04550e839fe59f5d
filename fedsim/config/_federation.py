"""The ``federation`` section: how the server aggregates (``federation=fedavg|fedasync|fedbuff``).

``fedavg`` is the synchronous default (rounds through the policy and the World). ``fedasync``
and ``fedbuff`` run on the event-driven world (``fedsim.federation._async_federation``): up to
``concurrency`` devices train at once, each when it is online and idle; ``fedasync`` mixes every
arriving update into the global model with weight ``mixing·s(τ)``, ``fedbuff`` aggregates every
``buffer_size`` arrivals, each update scaled by s(τ), at ``server_lr``. τ (staleness) is the number
of server versions between a device's download and its arrival; s is

- ``constant``: 1;
- ``polynomial``: (1 + τ)^-a (Xie et al., FedAsync);
- ``hinge``: 1 for τ <= b, else 1 / (a (τ - b) + 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._checks import check_choice, check_float, check_int

FEDERATIONS = ("fedavg", "fedasync", "fedbuff")
STALENESS_FUNCTIONS = ("constant", "polynomial", "hinge")


@dataclass(frozen=True)
class FederationConfig:
    name: str = "fedavg"
    concurrency: int | None = None  # devices training at once (None: op.devices_per_round)
    buffer_size: int = 5  # fedbuff: arrivals per aggregation
    staleness: str = "polynomial"
    staleness_a: float = 0.5
    staleness_b: float = 4.0  # hinge: staleness up to b is not discounted
    mixing: float = 0.6  # fedasync: alpha of x <- (1 - alpha s) x + alpha s x_device
    server_lr: float = 1.0  # fedbuff: the step on the buffer's averaged update

    def __post_init__(self) -> None:
        check_choice("name", self.name, FEDERATIONS)
        if self.concurrency is not None:
            check_int("concurrency", self.concurrency, 1)
        check_int("buffer_size", self.buffer_size, 1)
        check_choice("staleness", self.staleness, STALENESS_FUNCTIONS)
        check_float("staleness_a", self.staleness_a, low=0)
        check_float("staleness_b", self.staleness_b, low=0)
        check_float("mixing", self.mixing, low=0, high=1, low_open=True)
        check_float("server_lr", self.server_lr, low=0, low_open=True)

    @property
    def asynchronous(self) -> bool:
        return self.name != "fedavg"

    def staleness_weight(self, staleness: int) -> float:
        """s(τ) of the configured function."""
        tau = float(staleness)
        if self.staleness == "polynomial":
            return (1.0 + tau) ** -self.staleness_a
        if self.staleness == "hinge":
            return 1.0 if tau <= self.staleness_b else 1.0 / (self.staleness_a * (tau - self.staleness_b) + 1.0)
        return 1.0
