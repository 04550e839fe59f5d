"""CompressedLinear: packed storage, reference vs fast forward, byte accounting, adapter gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fedsim_kernels.masks import nm_mask, unstructured_mask
from fedsim_kernels.modules import CompressedLinear
from fedsim_kernels.packing import bits_per_weight, packed_nbytes
from fedsim_kernels.quant import QuantSpec, dequantize, quantize


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small matmuls: one thread is as fast as two and immune to a busy second core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _linear(d_in: int, d_out: int, seed: int = 0, bias: bool = True) -> nn.Linear:
    torch.manual_seed(seed)
    lin = nn.Linear(d_in, d_out, bias=bias)
    with torch.no_grad():
        lin.weight.normal_(0, 0.05)
        if bias:
            lin.bias.normal_(0, 0.1)
    return lin


def _adapters(d_in: int, d_out: int, r: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return 0.05 * torch.randn(d_in, r, generator=g), 0.05 * torch.randn(r, d_out, generator=g)


FORMATS = [  # (bits, group_size, sparsity)
    (4, 32, None), (4, 64, "2:4"), (4, None, None), (4, None, "2:4"), (4, 32, 0.5),
    (8, 32, None), (8, None, "2:4"), (None, None, None), (None, None, "2:4"),
]


def _layer(bits, group_size, sparsity, d_in=128, d_out=48, rank=4, bias=True) -> tuple[CompressedLinear, nn.Linear, torch.Tensor | None]:
    lin = _linear(d_in, d_out, bias=bias)
    mask = None
    if sparsity == "2:4":
        mask = nm_mask(lin.weight.detach().abs(), 2, 4)
    elif sparsity is not None:
        mask = unstructured_mask(lin.weight.detach().abs(), sparsity)
    L, R = _adapters(d_in, d_out, rank) if rank else (None, None)
    return CompressedLinear.from_linear(lin, bits=bits, group_size=group_size, mask=mask, L=L, R=R), lin, mask


# ----------------------------------------------------------------------------- storage
@pytest.mark.parametrize("bits,group_size,sparsity", FORMATS)
def test_base_round_trips_codes_and_matches_quantizer(bits, group_size, sparsity):
    layer, lin, mask = _layer(bits, group_size, sparsity)
    W = lin.weight.detach()
    if mask is not None:
        W = torch.where(mask, W, torch.zeros_like(W))
    assert layer.sparse_format == ("2:4" if sparsity == "2:4" else "dense")
    if bits is None:
        assert torch.equal(layer.dequantized_weight(), W)
        return
    spec = QuantSpec(bits, granularity="tensor") if group_size is None else QuantSpec(bits, granularity="group",
                                                                                       group_size=group_size)
    qt = quantize(W, spec)
    assert torch.equal(layer.dense_codes(), qt.codes.to(torch.int8))  # packing is lossless
    qt.scale = qt.scale.to(torch.bfloat16).to(torch.float32)  # the layer stores bf16 scales
    assert torch.equal(layer.dequantized_weight(), dequantize(qt))
    if mask is not None:
        assert not bool(layer.dequantized_weight()[~mask].any())
    if sparsity == "2:4":
        assert torch.equal(layer.keep_mask(), mask)


@pytest.mark.parametrize("bits,group_size,sparsity", FORMATS)
def test_nbytes_counts_packed_base_scales_adapters_and_bias(bits, group_size, sparsity):
    layer, lin, _ = _layer(bits, group_size, sparsity, rank=4)
    d_out, d_in = lin.weight.shape
    fmt = "2:4" if sparsity == "2:4" else "dense"
    if bits is None:
        base = d_out * (d_in // 2 if fmt == "2:4" else d_in) * 4 + (d_out * d_in // 8 if fmt == "2:4" else 0)
    else:
        base = packed_nbytes((d_out, d_in), bits, group_size, fmt, scale_bits=16)
        if group_size is not None:
            assert layer.bits_per_weight == pytest.approx(bits_per_weight(bits, group_size, fmt))
    assert layer.base_nbytes() == base
    assert layer.nbytes() == base + 4 * d_out + 4 * 4 * (d_in + d_out)
    assert layer.bits_per_weight == pytest.approx(8 * base / (d_in * d_out))


def test_int4_24_with_group_scales_is_under_a_tenth_of_fp32():
    layer, lin, _ = _layer(4, 128, "2:4", d_in=512, d_out=256, rank=0, bias=False)
    assert layer.bits_per_weight == pytest.approx(3.125)
    assert layer.nbytes() / (4 * lin.weight.numel()) < 0.1


# ----------------------------------------------------------------------------- forward
@pytest.mark.parametrize("bits,group_size,sparsity", FORMATS)
def test_reference_path_is_the_dense_matmul_of_the_dequantized_weight(bits, group_size, sparsity):
    layer, _, _ = _layer(bits, group_size, sparsity)
    layer.path = "reference"
    x = torch.randn(3, 5, 128)
    W = layer.dequantized_weight()
    expected = F.linear(x, W, layer.bias) + (x @ layer.lora_L) @ layer.lora_R
    torch.testing.assert_close(layer(x), expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(layer.effective_weight(), W + (layer.lora_L @ layer.lora_R).T.detach())


@pytest.mark.parametrize("bits,group_size,sparsity,d_out", [
    (4, 32, None, 48), (4, 64, "2:4", 48), (4, None, None, 48), (4, 128, "2:4", 40), (4, 32, 0.5, 7),
    (8, None, None, 48), (8, None, "2:4", 24),
])
@pytest.mark.parametrize("shape", [(1,), (4,), (2, 3)])
def test_fast_path_matches_reference_to_bf16_precision(bits, group_size, sparsity, d_out, shape):
    layer, _, _ = _layer(bits, group_size, sparsity, d_out=d_out)
    assert layer.kernel is not None
    x = torch.randn(*shape, 128)
    layer.path = "reference"
    ref = layer(x)
    layer.path = "fast"
    fast = layer(x)
    assert fast.shape == ref.shape == (*shape, d_out) and fast.dtype == torch.float32
    rel = float((fast - ref).detach().norm() / ref.detach().norm())
    assert rel < 1e-2, rel  # activations are rounded to bf16 (2^-9 relative)
    layer.path = "auto"
    assert torch.equal(layer(x), fast)


def test_formats_without_a_kernel_use_the_reference_path():
    layer, _, _ = _layer(8, 32, None)  # int8 with group scales: no CPU kernel
    assert layer.kernel is None
    x = torch.randn(2, 128)
    layer.path = "reference"
    ref = layer(x)
    layer.path = "auto"
    assert torch.equal(layer(x), ref)
    layer.path = "fast"
    with pytest.raises(ValueError, match="path='fast'"):
        layer(x)


@pytest.mark.parametrize("d_in,kernel", [(40, None), (48, "int8pack_bf16")])
def test_int8_kernel_only_where_torch_supports_it(d_in, kernel):
    """torch 2.13's _weight_int8pack_mm crashes or miscomputes unless d_in % 16 == 0."""
    layer, _, _ = _layer(8, None, None, d_in=d_in, rank=0)
    assert layer.kernel == kernel
    x = torch.randn(3, d_in)
    ref = F.linear(x, layer.dequantized_weight(), layer.bias)
    assert float((layer(x) - ref).norm() / ref.norm()) < 1e-2


def test_kernel_cache_follows_the_stored_base():
    layer, _, _ = _layer(4, 32, None, rank=0)
    other, _, _ = _layer(4, 32, None, rank=0)
    with torch.no_grad():
        other.qweight.copy_(torch.flip(other.qweight, dims=(0,)))
    x = torch.randn(3, 128)
    before = layer(x)
    layer.load_state_dict(other.state_dict())  # in-place copy into the buffers
    after = layer(x)
    layer.path = "reference"
    torch.testing.assert_close(after, layer(x), rtol=2e-2, atol=2e-2)
    assert not torch.allclose(before, after)


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("path", ["reference", "fast"])
@pytest.mark.parametrize("sparsity", [None, "2:4"])
def test_adapter_gradients_match_autograd_on_the_unpacked_reference(path, sparsity):
    layer, _, _ = _layer(4, 32, sparsity, rank=6)
    layer.path = path
    W = layer.dequantized_weight().clone()
    b = layer.bias.clone()
    L = layer.lora_L.detach().clone().requires_grad_(True)
    R = layer.lora_R.detach().clone().requires_grad_(True)
    target = torch.randn(4, 7, 48)

    x1 = torch.randn(4, 7, 128, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    loss = ((layer(x1) - target) ** 2).sum()
    loss.backward()
    ref_loss = ((x2 @ W.T + b + (x2 @ L) @ R - target) ** 2).sum()
    ref_loss.backward()

    for got, want in ((layer.lora_L.grad, L.grad), (layer.lora_R.grad, R.grad), (x1.grad, x2.grad)):
        if path == "reference":  # same arithmetic: equal to float32 rounding
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        else:  # the forward rounds activations to bf16; the gradients inherit ~1e-3 relative error
            assert float((got - want).norm() / want.norm()) < 1e-2


def test_base_is_frozen_and_only_adapters_train():
    layer, _, _ = _layer(4, 32, "2:4", rank=4)
    params = dict(layer.named_parameters())
    assert set(params) == {"lora_L", "lora_R"} and all(p.requires_grad for p in params.values())
    frozen = {k: v.clone() for k, v in layer.named_buffers()}
    assert {"qweight", "scales", "sparse_idx", "bias"} <= set(frozen)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        layer(torch.randn(8, 128)).pow(2).mean().backward()
        opt.step()
    for k, v in layer.named_buffers():
        assert torch.equal(v, frozen[k]), k
    L0, _ = _adapters(128, 48, 4)
    assert not torch.equal(layer.lora_L.detach(), L0)


def test_state_dict_round_trip_through_config():
    layer, _, _ = _layer(4, 64, "2:4", rank=3)
    clone = CompressedLinear(**layer.config())
    clone.load_state_dict(layer.state_dict())
    x = torch.randn(5, 128)
    assert torch.equal(clone(x), layer(x))
    assert clone.nbytes() == layer.nbytes()


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs,key", [
    (dict(bits=3), "bits="),
    (dict(group_size=48), "group_size="),
    (dict(sparse_format="4:8"), "sparse_format="),
    (dict(rank=-1), "rank="),
    (dict(path="gpu"), "path="),
])
def test_constructor_rejects_bad_arguments(kwargs, key):
    with pytest.raises(ValueError, match=key):
        CompressedLinear(128, 48, **kwargs)


def test_from_codes_rejects_out_of_range_codes_and_bad_masks():
    codes = torch.full((16, 32), 9, dtype=torch.int8)
    with pytest.raises(ValueError, match="codes span"):
        CompressedLinear.from_codes(codes, torch.ones(16, 1))
    with pytest.raises(ValueError, match="sparse_format='2:4'"):
        CompressedLinear.from_codes(codes.clamp(max=7), torch.ones(16, 1), mask=torch.ones(16, 32, dtype=torch.bool),
                                    sparse_format="2:4")
    with pytest.raises(ValueError, match="scales has shape"):
        CompressedLinear.from_codes(codes.clamp(max=7), torch.ones(16, 5))


def test_auto_path_takes_the_float32_gemm_from_dense_batch_rows_on():
    from fedsim_kernels.modules import DENSE_BATCH_ROWS

    layer, _, _ = _layer(4, 32, "2:4")
    assert layer.kernel == "int4pack_bf16"
    small, large = torch.randn(DENSE_BATCH_ROWS - 1, 128), torch.randn(2, DENSE_BATCH_ROWS // 2, 128)
    layer.path = "fast"
    fast_small, fast_large = layer(small), layer(large)
    layer.path = "reference"
    ref_large = layer(large)
    layer.path = "auto"
    assert torch.equal(layer(small), fast_small)  # few rows: the int4 kernel
    assert torch.equal(layer(large), ref_large) and not torch.equal(ref_large, fast_large)  # many: exact fp32
    assert layer._dense is not None  # the float32 Ŵ is kept for the next large batch ...
    layer.float()
    assert layer._dense is None  # ... and dropped when the module is moved or cast
    x = large.clone().requires_grad_(True)
    layer(x).sum().backward()  # gradients flow through the cached path too
    torch.testing.assert_close(x.grad, layer.effective_weight().sum(0).expand_as(x), rtol=1e-5, atol=1e-5)
