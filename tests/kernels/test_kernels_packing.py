"""Storage formats: int4 and 2:4 packing round trips, analytic and measured bits per weight."""

from __future__ import annotations

import pytest
import torch

from fedsim_kernels import (
    QuantSpec,
    bits_per_weight,
    nm_mask,
    pack_2to4,
    pack_int4,
    packed_nbytes,
    quantize,
    unpack_2to4,
    unpack_int4,
)



def test_int4_round_trip_is_bit_exact_for_every_pair():
    vals = torch.arange(-8, 8, dtype=torch.int8)
    pairs = torch.cartesian_prod(vals, vals)  # all 256 nibble pairs
    packed = pack_int4(pairs)
    assert packed.dtype == torch.uint8 and packed.shape == (256, 1)
    assert torch.equal(unpack_int4(packed), pairs)
    assert len(set(packed.flatten().tolist())) == 256  # a bijection onto bytes
    u = torch.randint(0, 16, (3, 5, 8), generator=torch.Generator().manual_seed(0))
    assert torch.equal(unpack_int4(pack_int4(u, signed=False), signed=False), u.to(torch.int8))


def test_int4_rejects_out_of_range_and_odd_lengths():
    with pytest.raises(ValueError, match=r"\[-8, 7\]"):
        pack_int4(torch.tensor([0, 8]))
    with pytest.raises(ValueError, match="odd"):
        pack_int4(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="integer"):
        pack_int4(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="uint8"):
        unpack_int4(torch.tensor([1, 2]))


@pytest.mark.parametrize("d_in", [256, 12])  # 12: indices need a padded byte
def test_2to4_round_trip_for_floats_and_codes(d_in):
    g = torch.Generator().manual_seed(1)
    W = torch.randn(16, d_in, generator=g)
    mask = nm_mask(W.abs())
    Ws = W * mask
    values, idx = pack_2to4(Ws, mask)
    assert values.shape == (16, d_in // 2) and idx.dtype == torch.uint8 and idx.shape == (16, -(-d_in // 8))
    dense, mask2 = unpack_2to4(values, idx)
    assert torch.equal(dense, Ws) and torch.equal(mask2, mask)
    # integer codes, including kept zeros (the mask, not the value, says what is kept)
    codes = quantize(Ws, QuantSpec(4, granularity="channel")).codes * mask
    codes[0, 0:4] = torch.tensor([0, 0, 3, 0], dtype=codes.dtype)
    m = mask.clone()
    m[0, 0:4] = torch.tensor([True, False, True, False])
    v, i = pack_2to4(codes, m)
    dense, mask3 = unpack_2to4(v, i)
    assert torch.equal(dense, codes) and torch.equal(mask3, m)


def test_2to4_rejects_non_2to4_masks():
    W = torch.randn(4, 8)
    bad = torch.ones(4, 8, dtype=torch.bool)
    with pytest.raises(ValueError, match="not 2:4"):
        pack_2to4(W, bad)
    with pytest.raises(ValueError, match="divisible by 4"):
        pack_2to4(torch.randn(4, 6), torch.ones(4, 6, dtype=torch.bool))


def test_bits_per_weight_analytic_values():
    assert bits_per_weight(4, 128) == 4.125
    assert bits_per_weight(4, 128, "2:4") == 3.125  # 2 values·4 bits + 2 indices·2 bits per 4, + scales
    assert bits_per_weight(8, None) == 8.0
    assert bits_per_weight(4, 64, "2:4", scale_bits=32) == 3.5
    with pytest.raises(ValueError, match="sparsity_format='4:8'"):
        bits_per_weight(4, 128, "4:8")
    with pytest.raises(ValueError, match="group_size=0"):
        bits_per_weight(4, 0)


@pytest.mark.parametrize("group_size", [32, 128, 256])
def test_measured_bytes_match_the_analytic_count(group_size):
    g = torch.Generator().manual_seed(2)
    W = torch.randn(64, 256, generator=g)
    spec = QuantSpec(4, granularity="group", group_size=group_size)
    # dense int4: packed codes + fp16 scales
    qt = quantize(W, spec)
    measured = pack_int4(qt.codes).numel() + qt.scale.to(torch.float16).numel() * 2
    assert measured == packed_nbytes(W.shape, 4, group_size) == bits_per_weight(4, group_size) * W.numel() / 8
    # 2:4 + int4: packed kept codes + packed indices + fp16 scales
    mask = nm_mask(W.abs())
    qt = quantize(W * mask, spec)
    values, idx = pack_2to4(qt.codes, mask)
    measured = pack_int4(values).numel() + idx.numel() + qt.scale.to(torch.float16).numel() * 2
    assert measured == packed_nbytes(W.shape, 4, group_size, "2:4") == bits_per_weight(4, group_size, "2:4") * W.numel() / 8
    # 8-bit dense stores one code per byte
    q8 = quantize(W, QuantSpec(8, granularity="group", group_size=group_size))
    measured = q8.codes.numel() * q8.codes.element_size() + q8.scale.numel() * 2
    assert measured == packed_nbytes(W.shape, 8, group_size) == bits_per_weight(8, group_size) * W.numel() / 8


def test_packed_nbytes_per_tensor_scale_and_padding():
    assert packed_nbytes((64, 256), 4, None) == 64 * 128 + 2
    assert packed_nbytes((3, 12), 4, None, "2:4") == 3 * 3 + 3 * 2 + 2
    with pytest.raises(ValueError, match="group_size=100"):
        packed_nbytes((64, 256), 4, 100)
