"""CompressedLinear backends: which computation a forward takes (low-bit kernel, bf16 GEMM, cached
float32 Ŵ, reference), their numerics against the dequantized reference, threads, fallbacks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fedsim_kernels.modules as modules
from fedsim_kernels.masks import nm_mask
from fedsim_kernels.modules import DENSE_BATCH_ROWS, CompressedLinear

needs_bf16_gemm = pytest.mark.skipif(not modules._HAS_BF16_GEMM, reason="oneDNN has no bfloat16 GEMM on this CPU")
needs_int4 = pytest.mark.skipif(not modules._HAS_INT4, reason="torch has no CPU int4 kernel")


def _layer(d_in=256, d_out=96, group_size=64, sparse=True, bits=4, seed=0) -> CompressedLinear:
    torch.manual_seed(seed)
    lin = nn.Linear(d_in, d_out)
    with torch.no_grad():
        lin.weight.normal_(0, 0.05)
        lin.bias.normal_(0, 0.1)
    mask = nm_mask(lin.weight.detach().abs(), 2, 4) if sparse else None
    return CompressedLinear.from_linear(lin, bits=bits, group_size=group_size, mask=mask)


def _bf16_bound(x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Elementwise bound on |fast − reference|: activations, Ŵ (bf16 GEMM only) and the output are
    each rounded to bfloat16 (relative error ≤ 2^-9 apiece: 3·2^-9 of Σ|x||Ŵ|), plus float32
    accumulation over d_in terms in both (d_in·2^-23 of Σ|x||Ŵ|)."""
    d_in = x.shape[-1]
    return (3 * 2.0**-9 + d_in * 2.0**-23) * (x.abs() @ W.abs().T)


@needs_int4
@pytest.mark.parametrize("rows", [1, 3, DENSE_BATCH_ROWS - 1])
def test_int4_kernel_is_within_the_bf16_bound_of_the_dequantized_matmul(rows):
    layer = _layer()
    x = torch.randn(rows, 256)
    with torch.inference_mode():
        assert layer.backend(x) == "int4pack_bf16"
        got = layer(x)
        W = layer.dequantized_weight()
        want = F.linear(x, W, layer.bias)
    err = (got - want).abs()
    assert bool((err <= _bf16_bound(x, W)).all()), float((err / _bf16_bound(x, W)).max())
    assert float(err.max()) > 0  # it really is the low-precision kernel, not the reference


@needs_int4
@needs_bf16_gemm
@pytest.mark.parametrize("shape", [(DENSE_BATCH_ROWS,), (4, 16), (64,)])
def test_bf16_gemm_is_a_bf16_matmul_of_the_dequantized_weight(shape):
    layer = _layer()
    x = torch.randn(*shape, 256)
    with torch.inference_mode():
        assert layer.backend(x) == "bf16_gemm"
        got = layer(x)
        W = layer.dequantized_weight()
        want = F.linear(x, W, layer.bias)
        x2 = x.reshape(-1, 256)
        exact_recipe = (F.linear(x2.bfloat16(), W.bfloat16()).float() + layer.bias).reshape(*shape, 96)
    assert got.shape == (*shape, 96) and got.dtype == torch.float32
    assert torch.equal(got, exact_recipe)
    err = (got - want).abs()
    assert bool((err <= _bf16_bound(x, W)).all()), float((err / _bf16_bound(x, W)).max())
    assert float((got - want).norm() / want.norm()) < 1e-2


@needs_int4
@needs_bf16_gemm
def test_backend_follows_path_rows_dtype_and_grad_mode():
    layer = _layer()
    small, large = torch.randn(2, 256), torch.randn(DENSE_BATCH_ROWS, 256)
    assert layer.kernel == "int4pack_bf16" and layer.large_batch_kernel == "bf16_gemm"
    with torch.no_grad():
        assert layer.backend(small) == "int4pack_bf16" and layer.backend(large) == "bf16_gemm"
        assert layer.backend(large.double()) == "fp32_cached" and layer.backend(small.double()) == "reference"
    assert layer.backend(small) == "int4pack_bf16"
    assert layer.backend(large) == "fp32_cached"  # autograd records: training keeps the exact result
    layer.path = "fast"
    assert layer.backend(large) == "bf16_gemm"
    with pytest.raises(ValueError, match="path='fast'"):
        layer.backend(large.double())
    layer.path = "reference"
    assert layer.backend(small) == layer.backend(large) == "reference"
    text = repr(layer)
    assert "kernel='int4pack_bf16'" in text and "large_batch_kernel='bf16_gemm'" in text and "kernel_threads=1" in text


@needs_int4
@needs_bf16_gemm
def test_fast_bf16_gemm_passes_input_gradients_through_the_float32_weight():
    layer = _layer()
    layer.path = "fast"
    x = torch.randn(DENSE_BATCH_ROWS, 256, requires_grad=True)
    assert layer.backend(x) == "bf16_gemm"
    g = torch.randn(DENSE_BATCH_ROWS, 96)
    (layer(x) * g).sum().backward()
    torch.testing.assert_close(x.grad, g @ layer.dequantized_weight(), rtol=1e-5, atol=1e-5)


@needs_int4
@needs_bf16_gemm
def test_bf16_weight_cache_follows_the_buffers_and_is_dropped_on_cast():
    layer, other = _layer(seed=0), _layer(seed=1)
    x = torch.randn(DENSE_BATCH_ROWS, 256)
    with torch.inference_mode():
        before = layer(x)
        assert layer._bf16 is not None
    with torch.no_grad():
        layer.load_state_dict(other.state_dict())  # in-place copies: the cache key changes
    with torch.inference_mode():
        assert torch.equal(layer(x), other(x)) and not torch.equal(before, layer(x))
    layer.float()
    assert layer._bf16 is None


@needs_int4
def test_kernel_threads_caps_the_kernel_call_and_restores_torch_threads():
    layer = _layer()
    x = torch.randn(3, 256)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with torch.inference_mode():
            one = layer(x)
            assert torch.get_num_threads() == 2
            layer.kernel_threads = None
            both = layer(x)
        # the kernel splits the outputs between threads, never a sum: the same bits either way
        assert torch.equal(one, both)
    finally:
        torch.set_num_threads(threads)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="kernel_threads="):
            layer.kernel_threads = bad


def test_without_the_torch_ops_the_pure_torch_reference_runs(monkeypatch):
    monkeypatch.setattr(modules, "_HAS_INT4", False)
    layer = _layer()
    assert layer.kernel is None and layer.large_batch_kernel is None
    x = torch.randn(3, 256)
    with torch.inference_mode():
        assert layer.backend(x) == "reference"
        torch.testing.assert_close(layer(x), F.linear(x, layer.dequantized_weight(), layer.bias), rtol=1e-6, atol=1e-6)
    assert "kernel=None" in repr(layer)


@needs_int4
def test_without_a_bf16_gemm_large_batches_stay_on_the_low_bit_kernel(monkeypatch):
    monkeypatch.setattr(modules, "_HAS_BF16_GEMM", False)
    layer = _layer()
    x = torch.randn(DENSE_BATCH_ROWS, 256)
    with torch.inference_mode():
        assert layer.large_batch_kernel == "int4pack_bf16" and layer.backend(x) == "int4pack_bf16"
        got = layer(x)
        W = layer.dequantized_weight()
        want = F.linear(x, W, layer.bias)
    assert bool(((got - want).abs() <= _bf16_bound(x, W)).all())
