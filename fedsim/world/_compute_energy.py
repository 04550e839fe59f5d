"""On-device training energy of a quantized neural network (QNN).

The model is the one in Kim et al., "Green, Quantized Federated Learning over Wireless Networks"
(IEEE TWC 2023), restated in docs/reproductions/kim2023-green-qfl.md: a Moons et al. (2017) style accelerator
where a MAC at n bits costs A·(n/32)^alpha and memory traffic is priced in MAC-energy units.
The forward pass runs at the training precision n; the backward pass is full precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fedsim.errors import ConfigError
from fedsim._checks import check_float, check_int
from fedsim.workload import Workload

_FULL_PRECISION_BITS = 32


def check_train_bits(n: ArrayLike) -> np.ndarray:
    """Training precisions as floats; anything but integers in [1, 32] is a ConfigError."""
    raw = np.asarray(n)
    if raw.dtype == bool or not np.issubdtype(raw.dtype, np.number):
        raise ConfigError("op.train_bits", n, "an integer in [1, 32]")
    bits = raw.astype(float)
    if (
        not np.all(np.isfinite(bits))
        or np.any(bits != np.round(bits))
        or np.any(bits < 1)
        or np.any(bits > _FULL_PRECISION_BITS)
    ):
        raise ConfigError("op.train_bits", n, "an integer in [1, 32]")
    return bits


@dataclass(frozen=True)
class QnnEnergyModel:
    """Energy of forward/backward passes at a given training precision, in joules.

    Every method takes a scalar or a numpy array of precisions and returns the same shape, so a
    whole round (one precision per device) is priced in one call.
    """

    mac_energy_j: float = 3.7e-12  # A: one 32-bit MAC (Horowitz 45 nm fp32 mult)
    alpha: float = 1.25  # MAC energy scales as (n/32)^alpha
    dram_factor: float = 150.0  # A_d: a DRAM access costs A_d MACs
    sram_bits: float = 16e6  # S_SRAM: on-chip memory; only traffic beyond it goes to DRAM
    pe_reuse: float = 16.0  # p: PE-array reuse, divides memory traffic by sqrt(p)
    batch_size: int = 32  # B_mb: samples per local iteration

    def __post_init__(self) -> None:
        check_float("energy.mac_energy_j", self.mac_energy_j, low=0, low_open=True)
        check_float("energy.alpha", self.alpha, low=0, low_open=True)
        check_float("energy.dram_factor", self.dram_factor, low=0, low_open=True)
        check_float("energy.sram_bits", self.sram_bits, low=0, low_open=True)
        check_float("energy.pe_reuse", self.pe_reuse, low=0, low_open=True)
        check_int("energy.batch_size", self.batch_size, 1)

    def mac_energy(self, n: ArrayLike) -> np.ndarray | float:
        """E_MAC(n) = A·(n/32)^alpha, joules per MAC at n bits."""
        bits = check_train_bits(n)
        return self.mac_energy_j * (bits / _FULL_PRECISION_BITS) ** self.alpha

    def inference_energy(self, n: ArrayLike, workload: Workload) -> np.ndarray | float:
        """E_inf(n): forward pass of one sample at n bits (compute + weights + activations + DRAM)."""
        bits = check_train_bits(n)
        e_mac = self.mac_energy(bits)
        e_sram = 2.0 * e_mac  # E_M
        e_dram = self.dram_factor * e_mac  # E_D
        e_max = self.mac_energy_j  # E_MAC(32)
        d, n_c, o_c = workload.params, workload.macs, workload.activations
        # Weight/activation fetches are amortised over the PE array: sqrt(n / (p·32)) per MAC.
        reuse = np.sqrt(bits / (self.pe_reuse * _FULL_PRECISION_BITS))
        e_comp = e_mac * n_c + 2.0 * o_c * e_max
        e_weight = e_sram * d + e_mac * n_c * reuse
        e_act = 2.0 * e_sram * o_c + e_mac * n_c * reuse
        # Only what does not fit on chip (weights + activations at n bits) spills to DRAM.
        spill_bits = np.maximum(d * bits + 2.0 * o_c * bits - self.sram_bits, 0.0)
        e_dram_total = self.dram_factor * e_max * workload.input_size + 2.0 * e_dram * spill_bits
        return e_comp + e_weight + e_act + e_dram_total

    def backward_energy(self, workload: Workload) -> float:
        """E_back: backward pass of one sample at full precision, independent of n."""
        e_max = self.mac_energy_j
        backward_macs = workload.backward_macs_or_default  # 2·N_c in the paper
        spill_bits = max(
            _FULL_PRECISION_BITS * workload.params + 64.0 * workload.activations - self.sram_bits,
            0.0,
        )
        # The Green-QFL release adds one more term, ~1e-6 of the total; it is omitted here.
        return (
            backward_macs * e_max
            + backward_macs * e_max / math.sqrt(self.pe_reuse)
            + self.dram_factor * e_max * spill_bits
        )

    def train_iteration_energy(self, n: ArrayLike, workload: Workload) -> np.ndarray | float:
        """E_train(n) = B_mb·(E_inf(n) + E_back): joules per local iteration (one mini-batch)."""
        per_sample = self.inference_energy(n, workload) + self.backward_energy(workload)
        return self.batch_size * per_sample
