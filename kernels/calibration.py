"""Streaming per-layer calibration statistics (input-channel norms, absmax, Hessian proxy).

Every statistic is a *sum* (or a max), so statistics gathered by federated clients on their own
shards can be merged on the server and equal the centralized ones.  Sums are accumulated in
float64 with a compensation term (double-double, error-free TwoSum), so the stored value is the
exact sum to ~2^-106 relative; the float64 value exposed to users is that sum rounded once.  Two
accumulations of the same per-batch contributions in any order therefore give bit-identical
float64 results (barring an exact sum lying within ~n·2^-106 of a float64 rounding midpoint).

Conventions: an input ``x`` has shape (..., d_in).  Its leading dimension counts *samples*
(a 1-D input is one sample of one token); all leading dimensions together count *tokens*.
``s_j`` = (Σ over tokens of x_j²) / samples, the Wanda/SLiM scaler; ``H`` = Σ xᵀx / tokens.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["LayerStats"]


def _two_sum(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Error-free transformation: a + b == s + e exactly (Knuth)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def _dd_add(hi: Tensor, lo: Tensor, b_hi: Tensor, b_lo: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Add (b_hi + b_lo) to the double-double (hi + lo); the result has hi == fl(hi + lo)."""
    s, e = _two_sum(hi, b_hi)
    e = e + lo if b_lo is None else e + (lo + b_lo)
    # Renormalise with a full TwoSum (entries of H can cancel, so |s| >= |e| is not guaranteed):
    # afterwards hi is the float64 nearest to hi + lo.
    return _two_sum(s, e)


class LayerStats:
    """Accumulate calibration statistics of one linear layer's input.

    Args:
        d_in: input features; inferred from the first ``update`` when None.
        with_hessian: also accumulate Σ xᵀx (d_in × d_in, float64) for SparseGPT/GPTQ/OPTIMA.
    """

    def __init__(self, d_in: int | None = None, with_hessian: bool = False) -> None:
        if d_in is not None and (not isinstance(d_in, int) or d_in <= 0):
            raise ValueError(f"d_in={d_in!r} is invalid; expected a positive int or None")
        self.d_in: int | None = None
        self.with_hessian = bool(with_hessian)
        self.count = 0  # tokens seen
        self.num_samples = 0  # leading-dimension entries seen
        self.sq_norms: Tensor | None = None  # Σ_tokens x_j², float64 (rounded view of the sum)
        self._sq_lo: Tensor | None = None  # compensation term of sq_norms
        self.absmax: Tensor | None = None  # max_tokens |x_j|, float64
        self.hessian: Tensor | None = None  # Σ xᵀx, float64 (only with_hessian)
        self._h_lo: Tensor | None = None
        if d_in is not None:
            self._allocate(d_in)

    def _allocate(self, d_in: int, device: torch.device | str = "cpu") -> None:
        self.d_in = d_in
        z = torch.zeros(d_in, dtype=torch.float64, device=device)
        self.sq_norms, self._sq_lo, self.absmax = z.clone(), z.clone(), z.clone()
        if self.with_hessian:
            self.hessian = torch.zeros(d_in, d_in, dtype=torch.float64, device=device)
            self._h_lo = torch.zeros(d_in, d_in, dtype=torch.float64, device=device)

    @property
    def device(self) -> torch.device:
        """Where the sums live (the device of the first input when d_in was not given)."""
        return self.sq_norms.device if self.sq_norms is not None else torch.device("cpu")

    # ------------------------------------------------------------------ accumulation
    @torch.no_grad()
    def update(self, x: Tensor) -> "LayerStats":
        """Add one batch of layer inputs, shape (..., d_in); returns self for chaining."""
        if not isinstance(x, Tensor) or x.dim() == 0:
            raise ValueError(f"x must be a tensor of shape (..., d_in); got {type(x).__name__} "
                             f"{tuple(getattr(x, 'shape', ()))}")
        if self.d_in is None:
            self._allocate(int(x.shape[-1]), x.device)
        if x.shape[-1] != self.d_in:
            raise ValueError(f"x.shape[-1]={x.shape[-1]} does not match d_in={self.d_in}")
        samples = 1 if x.dim() == 1 else int(x.shape[0])
        xt = x.detach().reshape(-1, self.d_in).to(device=self.device, dtype=torch.float64)
        if xt.shape[0] == 0:
            return self
        self.count += xt.shape[0]
        self.num_samples += samples
        self.sq_norms, self._sq_lo = _dd_add(self.sq_norms, self._sq_lo, (xt * xt).sum(0))
        self.absmax = torch.maximum(self.absmax, xt.abs().amax(0))
        if self.with_hessian:
            self.hessian, self._h_lo = _dd_add(self.hessian, self._h_lo, xt.T @ xt)
        return self

    def merge(self, other: "LayerStats") -> "LayerStats":
        """Add another accumulator's sums into this one (exactly; see module docstring)."""
        if not isinstance(other, LayerStats):
            raise ValueError(f"other must be a LayerStats; got {type(other).__name__}")
        if other.with_hessian != self.with_hessian:
            raise ValueError(f"other.with_hessian={other.with_hessian} must equal "
                             f"self.with_hessian={self.with_hessian}")
        if other.d_in is None:
            return self
        if self.d_in is None:
            self._allocate(other.d_in, other.device)
        if other.d_in != self.d_in:
            raise ValueError(f"other.d_in={other.d_in} does not match d_in={self.d_in}")
        dev = self.device
        self.count += other.count
        self.num_samples += other.num_samples
        self.sq_norms, self._sq_lo = _dd_add(self.sq_norms, self._sq_lo, other.sq_norms.to(dev), other._sq_lo.to(dev))
        self.absmax = torch.maximum(self.absmax, other.absmax.to(dev))
        if self.with_hessian:
            self.hessian, self._h_lo = _dd_add(self.hessian, self._h_lo, other.hessian.to(dev), other._h_lo.to(dev))
        return self

    # ------------------------------------------------------------------ derived views
    def _require_data(self) -> None:
        if self.count == 0:
            raise ValueError("LayerStats has seen no tokens (count=0); call update() first")

    @property
    def s(self) -> Tensor:
        """s_j = Σ_tokens x_j² / samples (float64, shape (d_in,))."""
        self._require_data()
        return self.sq_norms / self.num_samples

    @property
    def H(self) -> Tensor:
        """H = Σ xᵀx / tokens (float64, shape (d_in, d_in))."""
        self._require_data()
        if not self.with_hessian:
            raise ValueError("H is unavailable: construct LayerStats(with_hessian=True)")
        return self.hessian / self.count

    # ------------------------------------------------------------------ transport
    def to_state(self) -> dict[str, Tensor]:
        """Plain CPU-tensor dict (safe to serialise / send from a federated client)."""
        state: dict[str, Tensor] = {
            "count": torch.tensor(self.count, dtype=torch.int64),
            "num_samples": torch.tensor(self.num_samples, dtype=torch.int64),
            "with_hessian": torch.tensor(self.with_hessian),
        }
        if self.d_in is not None:
            state.update(sq_norms=self.sq_norms.cpu().clone(), sq_norms_lo=self._sq_lo.cpu().clone(),
                         absmax=self.absmax.cpu().clone())
            if self.with_hessian:
                state.update(hessian=self.hessian.cpu().clone(), hessian_lo=self._h_lo.cpu().clone())
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "LayerStats":
        """Inverse of ``to_state``."""
        try:
            with_h = bool(state["with_hessian"])
            out = cls(with_hessian=with_h)
            out.count = int(state["count"])
            out.num_samples = int(state["num_samples"])
            if "sq_norms" in state:
                out._allocate(int(state["sq_norms"].shape[0]))
                out.sq_norms = state["sq_norms"].to(torch.float64).clone()
                out._sq_lo = state["sq_norms_lo"].to(torch.float64).clone()
                out.absmax = state["absmax"].to(torch.float64).clone()
                if with_h:
                    out.hessian = state["hessian"].to(torch.float64).clone()
                    out._h_lo = state["hessian_lo"].to(torch.float64).clone()
        except KeyError as exc:
            raise ValueError(f"state is missing key {exc.args[0]!r}; expected LayerStats.to_state() output") from None
        return out

    def __repr__(self) -> str:
        return (f"LayerStats(d_in={self.d_in}, tokens={self.count}, samples={self.num_samples}, "
                f"with_hessian={self.with_hessian})")
