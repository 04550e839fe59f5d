"""Workload: what one sample costs a model (parameters, MACs, activations, input size).

A neutral leaf shared by the model profilers (``fedsim.qnn``, the LM task), which measure it, and
the World and the theory, which price it; it imports neither torch nor the World.
"""

from __future__ import annotations

from dataclasses import dataclass

from fedsim._checks import check_float, check_int


@dataclass(frozen=True)
class Workload:
    """What one sample costs the model: the sizes the energy model needs."""

    params: int  # d, trainable parameters (also the uplink payload length in values)
    macs: float  # N_c, MACs per forward pass of one sample
    activations: int  # O_c, activation count in the memory terms
    input_size: int  # x_dim, values per input sample (read from DRAM)
    # MACs of the backward pass of one sample, when measured; None: twice the forward (the
    # Green-QFL model's input and weight gradients, what the papers' constants assume).
    backward_macs: float | None = None

    def __post_init__(self) -> None:
        check_int("workload.params", self.params, 1)
        check_float("workload.macs", self.macs, low=0, low_open=True)
        if self.backward_macs is not None:
            check_float("workload.backward_macs", self.backward_macs, low=0, low_open=True)
        check_int("workload.activations", self.activations, 1)
        check_int("workload.input_size", self.input_size, 1)

    @property
    def backward_macs_or_default(self) -> float:
        """Backward MACs of one sample: measured, or twice the forward."""
        return 2.0 * self.macs if self.backward_macs is None else self.backward_macs

    @property
    def training_macs(self) -> float:
        """Forward plus backward MACs of one training sample."""
        return self.macs + self.backward_macs_or_default

    @classmethod
    def green_qfl_paper(cls) -> Workload:
        """The CNN of the Green-QFL release (5 quantized convs + 3 FC layers on MNIST)."""
        return cls(params=411_598, macs=4.05e7, activations=4_990, input_size=784)
