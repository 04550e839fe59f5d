"""``CompressedLinear``: a frozen packed base weight plus trainable low-rank adapters.

    y = x·Ŵᵀ + (x·L)·R + b,   Ŵ = deq(codes, scales) (zeros where pruned)

Storage (what ``nbytes`` counts): int4 codes two per byte (``pack_int4``) or int8 codes or float
values; with the 2:4 format only the kept half is stored, plus the 2-bit in-group indices
(``pack_2to4``); symmetric scales in bfloat16, one per group of ``group_size`` inputs of a row
(``group_size=None``: one per tensor).  Scales are stored in bfloat16 because that is what the CPU
int4 kernel consumes, so the reference and the fast path share one definition of Ŵ.

Forward paths (``backend(x)`` names the one a call takes):
- ``"reference"``: unpack → dequantize → dense float32 matmul (the exact definition).
- ``"fast"``: the base's low-precision CPU kernels, on lazily built, cached copies of the base in
  their layouts (not counted by ``nbytes``; not saved; dropped on ``.to()``):
  - fewer than ``DENSE_BATCH_ROWS`` rows (decoding, GEMV): a low-bit kernel.  int4:
    ``aten._weight_int4pack_mm_for_cpu`` (Ŵ dequantized exactly in float32 inside the kernel,
    bfloat16 activations and output, float32 accumulation); int8 with one scale per tensor:
    ``aten._weight_int8pack_mm``.  A batch-1 4096×4096 int4 call reads 8 MiB of weights instead of
    64 MiB, so it is bounded by memory traffic 8x below float32 (benchmarks/kernels.py prints both).
    It runs on ``kernel_threads`` threads (default ``KERNEL_THREADS`` = 1): a call lasts about a
    millisecond, shorter than a scheduler slice, so on a shared machine a second thread that gets
    descheduled makes the call wait for it (measured 2 threads 9-15 ms vs 1 thread 1.0 ms at load
    average 3 on 2 cores) while on an idle machine it saves at most half.
  - from ``DENSE_BATCH_ROWS`` rows on (prefill, evaluation windows) the int4 kernel is compute
    bound (it re-dequantizes the weights for every 4 rows), so the base is multiplied as a
    bfloat16 GEMM (oneDNN; AVX512-BF16 where the CPU has it) on a cached bfloat16 Ŵ, 2 bytes per
    weight: ``"bf16_gemm"``.  Only where oneDNN runs bfloat16 matmuls (AVX-512 and newer:
    ``torch.ops.mkldnn._is_mkldnn_bf16_supported``); elsewhere the low-bit kernel again.
  No CPU kernel exploits 2:4 sparsity, so a 2:4 base is expanded to dense codes for the kernels:
  on CPU 2:4 is a storage format.  Numerics: activations rounded to bfloat16 (and Ŵ too in the
  bf16 GEMM), float32 accumulation, output rounded to bfloat16: the fast paths match the
  reference to ~2e-3 relative (tests hold them to 1e-2).
- ``"auto"`` (default): the fast path when a kernel exists for the format and shape, except that
  from ``DENSE_BATCH_ROWS`` rows on, while autograd records (training windows), it multiplies by
  a cached float32 Ŵ (built on first use, not counted by ``nbytes``, dropped on ``.to()``):
  exactly the reference result, so training windows keep the float32 numerics they always had.
Gradients: the base is frozen (buffers), the adapters are parameters; the fast path's backward
(input gradient) multiplies by the dequantized Ŵ in float32.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .packing import pack_2to4, pack_int4, unpack_2to4, unpack_int4
from .quant import QuantSpec, quantize

__all__ = ["CompressedLinear"]

_BITS = (4, 8, None)
_FORMATS = ("dense", "2:4")
_PATHS = ("auto", "reference", "fast")
_SCALE_DTYPE = torch.bfloat16
_INT4_KERNEL_GROUPS = (256, 128, 64, 32)  # group sizes _weight_int4pack_mm_for_cpu accepts
# Rows of x from which the fast path leaves the low-bit kernel for the bfloat16 GEMM on a cached
# Ŵ (and "auto" under autograd for the float32 one): the int4 kernel re-dequantizes its weights
# for every 4 rows, so its time grows with the rows while the GEMM's barely does.  4096x4096 on
# this project's 2-core AVX-512 EPYC, both backends of one layer timed in turn (load average 3):
# int4 1.1-1.9 ms at 1-4 rows, 7.5 ms at 8, 14-23 ms at 12-16, 33 ms at 24-32; the bf16 GEMM
# 6-24 ms at any of those: they cross between 12 and 24 rows.
DENSE_BATCH_ROWS = 16
# Threads the low-bit kernels run on (CompressedLinear.kernel_threads; None = torch's setting).
KERNEL_THREADS = 1


def _has_op(name: str) -> bool:
    return hasattr(torch.ops.aten, name)


_HAS_INT4 = _has_op("_weight_int4pack_mm_for_cpu") and _has_op("_convert_weight_to_int4pack_for_cpu")
_HAS_INT8 = _has_op("_weight_int8pack_mm")
# bfloat16 matmul goes to oneDNN (native or AVX-512 emulated); without it torch's fallback is slow.
_HAS_BF16_GEMM = (hasattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported")
                  and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()))


def _with_threads(threads: int | None, fn: Any, *args: Any) -> Any:
    """fn(*args) on at most ``threads`` intra-op threads (None: torch's setting)."""
    have = torch.get_num_threads()
    if threads is None or have <= threads:
        return fn(*args)
    torch.set_num_threads(threads)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(have)


class _FastLinear(torch.autograd.Function):
    """Kernel forward; backward gives the input gradient through the dequantized base."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, layer: "CompressedLinear", backend: str) -> Tensor:
        ctx.layer = layer
        return layer._kernel_matmul(x, backend)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        W = ctx.layer.dequantized_weight()
        return (grad_out.to(W.dtype) @ W).to(grad_out.dtype), None, None


class CompressedLinear(nn.Module):
    """Linear layer with a packed, frozen base and optional trainable adapters L (d_in×r), R (r×d_out).

    The constructor only allocates zeroed storage of the right shapes (so ``load_state_dict`` can
    fill it); build a populated layer with ``from_codes``, ``from_float`` or ``from_linear``.

    Args:
        in_features: d_in.
        out_features: d_out.
        bits: 4 or 8 (symmetric integer codes) or None (float32 values, pruning only).
        group_size: inputs per scale within a row; None = one scale per tensor (ignored when
            bits is None).
        sparse_format: "dense" or "2:4" (stores kept values + 2-bit indices; d_in % 4 == 0).
        bias: whether there is a (frozen) bias.
        rank: adapter rank r (0 = no adapters).
        path: forward path, "auto", "reference" or "fast".
    """

    def __init__(self, in_features: int, out_features: int, *, bits: int | None = 4,
                 group_size: int | None = 128, sparse_format: str = "dense", bias: bool = True,
                 rank: int = 0, path: str = "auto") -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"{name}={v!r} is invalid; expected an int >= 1")
        if bits not in _BITS:
            raise ValueError(f"bits={bits!r} is invalid; expected one of 4, 8, None")
        if sparse_format not in _FORMATS:
            raise ValueError(f"sparse_format={sparse_format!r} is invalid; expected one of {', '.join(_FORMATS)}")
        if not (isinstance(rank, int) and 0 <= rank <= min(in_features, out_features)):
            raise ValueError(f"rank={rank!r} is invalid; expected an int in [0, {min(in_features, out_features)}]")
        if bits is None:
            group_size = None
        elif group_size is not None:
            if not (isinstance(group_size, int) and group_size >= 1 and in_features % group_size == 0):
                raise ValueError(f"group_size={group_size!r} is invalid; expected None or an int >= 1 "
                                 f"dividing in_features={in_features}")
        if sparse_format == "2:4" and in_features % 4:
            raise ValueError(f"in_features={in_features} is invalid for sparse_format='2:4'; expected a multiple of 4")
        if bits == 4 and in_features % (4 if sparse_format == "2:4" else 2):
            raise ValueError(f"in_features={in_features} is invalid for 4-bit packing; expected an even "
                             "number (a multiple of 4 with 2:4)")
        self.in_features, self.out_features = in_features, out_features
        self.bits, self.group_size, self.sparse_format, self.rank = bits, group_size, sparse_format, rank
        self.path = path  # validated by the setter

        stored = in_features // 2 if sparse_format == "2:4" else in_features  # values per row
        if bits == 4:
            q = torch.zeros(out_features, stored // 2, dtype=torch.uint8)
        elif bits == 8:
            q = torch.zeros(out_features, stored, dtype=torch.int8)
        else:
            q = torch.zeros(out_features, stored, dtype=torch.float32)
        self.register_buffer("qweight", q)
        self.register_buffer("sparse_idx", torch.zeros(out_features, math.ceil(in_features / 8), dtype=torch.uint8)
                             if sparse_format == "2:4" else None)
        if bits is None:
            scales = None
        elif group_size is None:
            scales = torch.ones(1, 1, dtype=_SCALE_DTYPE)
        else:
            scales = torch.ones(out_features, in_features // group_size, dtype=_SCALE_DTYPE)
        self.register_buffer("scales", scales)
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)
        if rank:
            self.lora_L = nn.Parameter(torch.zeros(in_features, rank))
            self.lora_R = nn.Parameter(torch.zeros(rank, out_features))
        else:
            self.register_parameter("lora_L", None)
            self.register_parameter("lora_R", None)
        self._kernel = self._pick_kernel()  # fixed by the format; buffers may change, layouts do not
        self.kernel_threads = KERNEL_THREADS  # validated by the setter
        self.cache_dense = False  # keep Ŵ between reference calls (repeated calibration passes)
        self._cache: tuple[tuple, Any] | None = None
        self._dense: tuple[tuple, Tensor] | None = None
        self._bf16: tuple[tuple, Tensor] | None = None

    # ------------------------------------------------------------------ construction
    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild an empty layer of this layout (for checkpoints)."""
        return dict(in_features=self.in_features, out_features=self.out_features, bits=self.bits,
                    group_size=self.group_size, sparse_format=self.sparse_format,
                    bias=self.bias is not None, rank=self.rank, path=self.path)

    @classmethod
    def from_codes(cls, codes: Tensor, scales: Tensor, *, bits: int = 4, mask: Tensor | None = None,
                   bias: Tensor | None = None, L: Tensor | None = None, R: Tensor | None = None,
                   sparse_format: str | None = None, path: str = "auto") -> "CompressedLinear":
        """Pack integer ``codes`` (d_out, d_in) with ``scales`` ((d_out, d_in/g) per group or (1, 1)).

        ``mask`` (True = keep) zeroes pruned codes; a mask that is exactly 2:4 selects the 2:4
        storage format unless ``sparse_format`` says otherwise.  Scales are stored in bfloat16.
        """
        if not isinstance(codes, Tensor) or codes.dim() != 2 or codes.is_floating_point():
            raise ValueError(f"codes must be a 2-D integer tensor (d_out, d_in); got "
                             f"{getattr(codes, 'dtype', type(codes).__name__)} {tuple(getattr(codes, 'shape', ()))}")
        if bits not in (4, 8):
            raise ValueError(f"bits={bits!r} is invalid; expected 4 or 8")
        d_out, d_in = codes.shape
        qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        if codes.numel() and (int(codes.min()) < qmin or int(codes.max()) > qmax):
            raise ValueError(f"codes span [{int(codes.min())}, {int(codes.max())}]; expected values in "
                             f"[{qmin}, {qmax}] for bits={bits}")
        if not isinstance(scales, Tensor) or scales.dim() != 2:
            raise ValueError(f"scales must be a 2-D tensor; got shape {tuple(getattr(scales, 'shape', ()))}")
        if tuple(scales.shape) == (1, 1):
            group_size = None
        elif scales.shape[0] == d_out and scales.shape[1] >= 1 and d_in % scales.shape[1] == 0:
            group_size = d_in // scales.shape[1]
        else:
            raise ValueError(f"scales has shape {tuple(scales.shape)}; expected (1, 1) or ({d_out}, d_in/group_size)")
        codes = codes.to(torch.int8)
        mask, fmt = _resolve_mask(mask, codes.shape, sparse_format)
        if mask is not None:
            codes = torch.where(mask, codes, torch.zeros_like(codes))
        layer = cls(d_in, d_out, bits=bits, group_size=group_size, sparse_format=fmt, bias=bias is not None,
                    rank=_adapter_rank(L, R, d_in, d_out), path=path)
        if fmt == "2:4":
            values, idx = pack_2to4(codes, mask)
            layer.sparse_idx.copy_(idx)
        else:
            values = codes
        layer.qweight.copy_(pack_int4(values) if bits == 4 else values)
        layer.scales.copy_(scales.detach().to(_SCALE_DTYPE))
        layer._set_bias_and_adapters(bias, L, R)
        return layer

    @classmethod
    def from_float(cls, weight: Tensor, *, mask: Tensor | None = None, bias: Tensor | None = None,
                   L: Tensor | None = None, R: Tensor | None = None, sparse_format: str | None = None,
                   path: str = "auto") -> "CompressedLinear":
        """Unquantized (float32) base, e.g. pruning only; a 2:4 ``mask`` stores half the values."""
        if not isinstance(weight, Tensor) or weight.dim() != 2 or not weight.is_floating_point():
            raise ValueError(f"weight must be a 2-D float tensor (d_out, d_in); got "
                             f"{getattr(weight, 'dtype', type(weight).__name__)} {tuple(getattr(weight, 'shape', ()))}")
        d_out, d_in = weight.shape
        w = weight.detach().to(torch.float32)
        mask, fmt = _resolve_mask(mask, w.shape, sparse_format)
        if mask is not None:
            w = torch.where(mask, w, torch.zeros_like(w))
        layer = cls(d_in, d_out, bits=None, sparse_format=fmt, bias=bias is not None,
                    rank=_adapter_rank(L, R, d_in, d_out), path=path)
        if fmt == "2:4":
            values, idx = pack_2to4(w, mask)
            layer.sparse_idx.copy_(idx)
            layer.qweight.copy_(values)
        else:
            layer.qweight.copy_(w)
        layer._set_bias_and_adapters(bias, L, R)
        return layer

    @classmethod
    def from_linear(cls, linear: nn.Linear, *, bits: int | None = 4, group_size: int | None = 128,
                    mask: Tensor | None = None, L: Tensor | None = None, R: Tensor | None = None,
                    sparse_format: str | None = None, path: str = "auto") -> "CompressedLinear":
        """Round-to-nearest absmax quantization of ``linear.weight`` (⊙ ``mask``): the quick way in."""
        if not isinstance(linear, nn.Linear):
            raise ValueError(f"linear must be an nn.Linear; got {type(linear).__name__}")
        W = linear.weight.detach().to(torch.float32)
        bias = None if linear.bias is None else linear.bias.detach()
        if mask is not None:
            W = torch.where(mask.to(torch.bool), W, torch.zeros_like(W))
        if bits is None:
            return cls.from_float(W, mask=mask, bias=bias, L=L, R=R, sparse_format=sparse_format, path=path)
        if bits not in (4, 8):
            raise ValueError(f"bits={bits!r} is invalid; expected 4, 8 or None")
        spec = (QuantSpec(bits, granularity="tensor") if group_size is None
                else QuantSpec(bits, granularity="group", group_size=group_size))
        qt = quantize(W, spec)
        return cls.from_codes(qt.codes, qt.scale, bits=bits, mask=mask, bias=bias, L=L, R=R,
                              sparse_format=sparse_format, path=path)

    @torch.no_grad()
    def _set_bias_and_adapters(self, bias: Tensor | None, L: Tensor | None, R: Tensor | None) -> None:
        if bias is not None:
            if bias.shape != (self.out_features,):
                raise ValueError(f"bias has shape {tuple(bias.shape)}; expected ({self.out_features},)")
            self.bias.copy_(bias.detach().to(torch.float32))
        if self.rank:
            self.lora_L.copy_(L.detach().to(torch.float32))
            self.lora_R.copy_(R.detach().to(torch.float32))

    # ------------------------------------------------------------------ views of the base
    @property
    def path(self) -> str:
        return self._path

    @path.setter
    def path(self, value: str) -> None:
        if value not in _PATHS:
            raise ValueError(f"path={value!r} is invalid; expected one of {', '.join(_PATHS)}")
        self._path = value

    def dense_codes(self) -> Tensor:
        """The base as dense values (d_out, d_in): int8 codes, or float32 when bits is None."""
        values = unpack_int4(self.qweight) if self.bits == 4 else self.qweight
        if self.sparse_format == "2:4":
            values, _ = unpack_2to4(values, self.sparse_idx)
        return values

    def keep_mask(self) -> Tensor:
        """Structural keep mask of a 2:4 base; for a dense base, the nonzero entries."""
        if self.sparse_format == "2:4":
            p = self.sparse_idx.to(torch.int64)
            idx = torch.stack([(p >> s) & 0x3 for s in (0, 2, 4, 6)], -1).reshape(self.out_features, -1)
            pos = idx[:, : self.in_features // 2].reshape(self.out_features, -1, 2)
            mask = torch.zeros(self.out_features, self.in_features // 4, 4, dtype=torch.bool)
            return mask.scatter_(-1, pos, True).reshape(self.out_features, self.in_features)
        return self.dense_codes() != 0

    def dequantized_weight(self) -> Tensor:
        """Ŵ (d_out, d_in) in float32: codes × bfloat16 scales (the exact definition of the base)."""
        codes = self.dense_codes()
        if self.bits is None:
            return codes.to(torch.float32)
        s = self.scales.to(torch.float32)
        if self.group_size is None:
            return codes.to(torch.float32) * s
        n, k = codes.shape
        return (codes.to(torch.float32).view(n, -1, self.group_size) * s.unsqueeze(-1)).view(n, k)

    def adapter_weight(self) -> Tensor | None:
        """(L·R)ᵀ, shape (d_out, d_in), or None without adapters."""
        return None if not self.rank else (self.lora_L @ self.lora_R).T

    def effective_weight(self) -> Tensor:
        """Ŵ + (L·R)ᵀ: the dense weight the layer computes with (without bias)."""
        W = self.dequantized_weight()
        return W if not self.rank else W + self.adapter_weight().detach()

    # ------------------------------------------------------------------ accounting
    def base_nbytes(self) -> int:
        """Packed base: values, 2:4 indices and scales."""
        return sum(t.numel() * t.element_size() for t in (self.qweight, self.sparse_idx, self.scales)
                   if t is not None)

    def nbytes(self) -> int:
        """Everything the layer stores: packed base + scales + adapters + bias (not the kernel cache)."""
        extra = [t for t in (self.bias, self.lora_L, self.lora_R) if t is not None]
        return self.base_nbytes() + sum(t.numel() * t.element_size() for t in extra)

    @property
    def bits_per_weight(self) -> float:
        """Base storage bits per dense weight position (values + indices + scales)."""
        return 8.0 * self.base_nbytes() / (self.in_features * self.out_features)

    # ------------------------------------------------------------------ kernels
    @property
    def kernel(self) -> str | None:
        """Name of the low-bit CPU kernel this format uses for few rows, or None (reference only)."""
        return self._kernel

    @property
    def large_batch_kernel(self) -> str | None:
        """What the fast path uses from ``DENSE_BATCH_ROWS`` rows on: "bf16_gemm", the low-bit
        kernel where oneDNN has no bfloat16 GEMM, or None (reference only)."""
        if self._kernel is None:
            return None
        return "bf16_gemm" if _HAS_BF16_GEMM else self._kernel

    @property
    def kernel_threads(self) -> int | None:
        """Intra-op threads of the low-bit kernel calls (None: torch's setting)."""
        return self._kernel_threads

    @kernel_threads.setter
    def kernel_threads(self, value: int | None) -> None:
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ValueError(f"kernel_threads={value!r} is invalid; expected None or an int >= 1")
        self._kernel_threads = value

    def backend(self, x: Tensor) -> str:
        """How ``forward(x)`` computes the base term x·Ŵᵀ now (path, rows, dtype, grad mode):
        "reference" (Ŵ dequantized per call), "fp32_cached" (the cached float32 Ŵ, same values),
        "bf16_gemm" or the low-bit kernel's name (``kernel``)."""
        if self._path == "reference":
            return "reference"
        ok = self._kernel is not None and x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16)
        if self._path == "fast" and not ok:
            raise ValueError(f"path='fast' is unavailable for bits={self.bits}, group_size={self.group_size}, "
                             f"input {x.dtype} on {x.device}; expected a kernel format on CPU or path='auto'")
        large = self._kernel is not None and x.numel() >= DENSE_BATCH_ROWS * self.in_features
        if not large:
            return self._kernel if ok else "reference"
        if not ok or (self._path == "auto" and torch.is_grad_enabled()):
            return "fp32_cached"  # training windows keep the exact float32 result
        return self.large_batch_kernel

    def _pick_kernel(self) -> str | None:
        if self.bits == 4 and _HAS_INT4 and self._int4_group() is not None:
            return "int4pack_bf16"
        if self.bits == 8 and _HAS_INT8 and self.group_size is None and self.in_features % 16 == 0:
            return "int8pack_bf16"  # (torch 2.13's op crashes or miscomputes unless d_in % 16 == 0)
        return None

    def _int4_group(self) -> int | None:
        span = self.in_features if self.group_size is None else self.group_size
        return next((g for g in _INT4_KERNEL_GROUPS if span % g == 0), None)

    def _cache_key(self) -> tuple:
        b = self._buffers  # direct dict access: this runs on every fast forward
        return tuple((t.data_ptr(), t._version) for t in (b["qweight"], b["sparse_idx"], b["scales"])
                     if t is not None)

    def _kernel_weights(self) -> Any:
        key = self._cache_key()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        with torch.no_grad():
            codes = self.dense_codes()
            n, k = codes.shape
            if self._kernel == "int4pack_bf16":
                kg = self._int4_group()
                s = self.scales.to(_SCALE_DTYPE)
                if self.group_size is None:
                    s = s.expand(n, k // kg)
                else:
                    s = s.repeat_interleave(self.group_size // kg, dim=1)
                pad = (-n) % 16  # the CPU packer needs N divisible by 16
                q = codes.to(torch.int32) + 8  # unsigned nibbles; zero point 8 ≡ symmetric codes
                if pad:
                    q = torch.cat((q, torch.full((pad, k), 8, dtype=torch.int32)))
                    s = torch.cat((s, torch.zeros(pad, s.shape[1], dtype=s.dtype)))
                packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.contiguous(), 1)
                sz = torch.stack((s, torch.zeros_like(s)), dim=-1).transpose(0, 1).contiguous()
                data: Any = (packed, kg, sz)
            else:  # int8pack_bf16
                data = (codes.contiguous(), self.scales.to(_SCALE_DTYPE).reshape(1).expand(n).contiguous())
        self._cache = (key, data)
        return data

    def _bf16_weight(self) -> Tensor:
        key = self._cache_key()
        if self._bf16 is None or self._bf16[0] != key:
            with torch.no_grad():
                self._bf16 = (key, self.dequantized_weight().to(torch.bfloat16).contiguous())
        return self._bf16[1]

    def _lowbit_matmul(self, x2: Tensor) -> Tensor:
        if self._kernel == "int4pack_bf16":
            packed, kg, sz = self._kernel_weights()
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(x2, packed, kg, sz)
            return y if y.shape[1] == self.out_features else y[:, : self.out_features]
        codes, scales = self._kernel_weights()
        return torch.ops.aten._weight_int8pack_mm(x2, codes, scales)

    def _kernel_matmul(self, x: Tensor, backend: str) -> Tensor:
        """x (..., d_in) → x·Ŵᵀ (..., d_out) with a fast backend (bf16 activations)."""
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features).to(torch.bfloat16).contiguous()
        if backend == "bf16_gemm":
            y = F.linear(x2, self._bf16_weight())
        else:
            y = _with_threads(self._kernel_threads, self._lowbit_matmul, x2)
        y = y.to(x.dtype)  # the kernel output is fresh either way: callers may add in place
        return y.reshape(*lead, self.out_features)

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x.shape[-1]={x.shape[-1]} does not match in_features={self.in_features}")
        backend = self.backend(x)
        if backend in ("reference", "fp32_cached"):
            y = F.linear(x, self._reference_weight(cache=backend == "fp32_cached").to(x.dtype),
                         None if self.bias is None else self.bias.to(x.dtype))
        elif torch.is_grad_enabled() and x.requires_grad:
            y = _FastLinear.apply(x, self, backend)
            if self.bias is not None:
                y = y + self.bias.to(y.dtype)
        else:
            y = self._kernel_matmul(x, backend)
            bias = self._buffers["bias"]
            if bias is not None:
                y.add_(bias if bias.dtype == y.dtype else bias.to(y.dtype))
        if self.rank:
            y = y + (x @ self.lora_L.to(x.dtype)) @ self.lora_R.to(x.dtype)
        return y

    def _reference_weight(self, cache: bool = False) -> Tensor:
        if not (self.cache_dense or cache):
            self._dense = None
            return self.dequantized_weight()
        key = self._cache_key()
        if self._dense is None or self._dense[0] != key:
            self._dense = (key, self.dequantized_weight())
        return self._dense[1]

    def _apply(self, fn, recurse=True):  # moving or casting invalidates the caches
        self._cache = self._dense = self._bf16 = None
        return super()._apply(fn, recurse)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, "
                f"group_size={self.group_size}, sparse_format={self.sparse_format!r}, rank={self.rank}, "
                f"bias={self.bias is not None}, bits_per_weight={self.bits_per_weight:.3f}, path={self._path!r}, "
                f"kernel={self._kernel!r}, large_batch_kernel={self.large_batch_kernel!r}, "
                f"kernel_threads={self._kernel_threads}")


def _resolve_mask(mask: Tensor | None, shape: torch.Size, sparse_format: str | None) -> tuple[Tensor | None, str]:
    """Validate the keep mask and pick the storage format (2:4 when the mask is exactly 2:4)."""
    if sparse_format is not None and sparse_format not in _FORMATS:
        raise ValueError(f"sparse_format={sparse_format!r} is invalid; expected None or one of {', '.join(_FORMATS)}")
    if mask is None:
        if sparse_format == "2:4":
            raise ValueError("sparse_format='2:4' needs a 2:4 mask; got mask=None")
        return None, "dense"
    if not isinstance(mask, Tensor) or mask.shape != shape:
        raise ValueError(f"mask has shape {tuple(getattr(mask, 'shape', ()))}; expected {tuple(shape)}")
    mask = mask.to(torch.bool)
    is_24 = shape[1] % 4 == 0 and bool((mask.reshape(shape[0], -1, 4).sum(-1) == 2).all())
    if sparse_format == "2:4" and not is_24:
        raise ValueError("sparse_format='2:4' needs a mask keeping exactly 2 of every 4 inputs")
    return mask, sparse_format or ("2:4" if is_24 else "dense")


def _adapter_rank(L: Tensor | None, R: Tensor | None, d_in: int, d_out: int) -> int:
    if L is None and R is None:
        return 0
    if L is None or R is None or L.dim() != 2 or R.dim() != 2:
        raise ValueError("L and R must both be given as 2-D tensors (d_in × r, r × d_out) or both be None")
    r = L.shape[1]
    if L.shape[0] != d_in or R.shape != (r, d_out):
        raise ValueError(f"L, R have shapes {tuple(L.shape)}, {tuple(R.shape)}; expected ({d_in}, r), (r, {d_out})")
    return r
