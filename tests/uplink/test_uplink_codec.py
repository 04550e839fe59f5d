import numpy as np
import pytest

from fedsim.uplink import decode_update, encode_update, pack_codes, packed_nbytes, unpack_codes


def _update(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=1e-3, size=(40, 30)).astype(np.float32), rng.normal(size=17).astype(np.float32)]


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 8, 11, 16, 23, 31])
def test_bit_packing_round_trips_and_uses_the_smallest_array(bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 2**bits, size=1001, dtype=np.uint64).astype(np.uint32)
    packed = pack_codes(codes, bits)
    assert packed.nbytes == packed_nbytes(1001, bits)
    assert np.array_equal(unpack_codes(packed, 1001, bits), codes)


def test_full_precision_is_exact():
    update = _update()
    encoded = encode_update(update, 32, np.random.default_rng(0))
    decoded = decode_update(encoded, [u.shape for u in update])
    assert all(np.array_equal(a, b) for a, b in zip(update, decoded))
    assert encoded.payload_bits == 32 * (1200 + 17)


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_quantized_update_is_unbiased(bits):
    update = _update(1)
    shapes = [u.shape for u in update]
    rng = np.random.default_rng(123)
    trials = 3000
    mean = [np.zeros(s) for s in shapes]
    for _ in range(trials):
        for acc, d in zip(mean, decode_update(encode_update(update, bits, rng), shapes)):
            acc += d / trials
    for m, u in zip(mean, update):
        scale = np.abs(u).max()
        # Standard error of the mean of a rounding error bounded by one level (2s/(2^m-1)).
        tolerance = 6 * (2 * scale / (2**bits - 1)) / np.sqrt(trials)
        assert np.abs(m - u).max() < tolerance


def test_decoded_values_stay_within_one_level():
    update = _update(2)
    for bits in (3, 8, 16):
        decoded = decode_update(encode_update(update, bits, np.random.default_rng(0)), [u.shape for u in update])
        for d, u in zip(decoded, update):
            level = 2 * np.abs(u).max() / (2**bits - 1)
            assert np.abs(d - u).max() <= level * (1 + 1e-5)


def test_payload_size_scales_with_bits():
    update = _update()
    n = 1200 + 17
    sizes = {b: encode_update(update, b, np.random.default_rng(0)).payload_bits for b in (1, 4, 8, 16, 32)}
    scales = 2 * 32  # one float32 scale per tensor
    assert sizes[8] == 8 * n + scales
    assert sizes[4] == 8 * packed_nbytes(n, 4) + scales
    assert sizes[1] == 8 * packed_nbytes(n, 1) + scales
    assert sizes[8] / sizes[32] == pytest.approx(0.25, rel=0.01)


def test_encoding_is_reproducible_per_stream():
    update = _update()
    a = encode_update(update, 4, np.random.default_rng(5))
    b = encode_update(update, 4, np.random.default_rng(5))
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.scales, b.scales)


def test_bad_bits_are_rejected():
    with pytest.raises(ValueError, match="uplink_bits=0"):
        encode_update(_update(), 0, np.random.default_rng(0))


@pytest.mark.parametrize("bits", [1, 3, 8, 12, 16, 32])
def test_decoding_is_the_float64_formula_bit_for_bit(bits):
    # ((code / levels) * 2 - 1) * scale in float64, then float32: the server's aggregate (and so
    # the sequential ledger) depends on these exact floats, however decode_update computes them.
    update = _update(3) + [np.zeros(5, np.float32), np.array([1.0, np.nan, -2.0], np.float32), np.zeros(0, np.float32)]
    shapes = [u.shape for u in update]
    encoded = encode_update(update, bits, np.random.default_rng(7))
    decoded = decode_update(encoded, shapes)
    sizes = [int(np.prod(s)) for s in shapes]
    if bits == 32:
        expected = np.concatenate([u.ravel() for u in update])
    else:
        codes = unpack_codes(encoded.codes, sum(sizes), bits).astype(np.float64)
        with np.errstate(invalid="ignore"):
            expected = ((codes / (2**bits - 1)) * 2.0 - 1.0) * np.repeat(encoded.scales.astype(np.float64), sizes)
    pieces = np.split(expected.astype(np.float32), np.cumsum(sizes)[:-1])
    assert [d.shape for d in decoded] == shapes and all(d.dtype == np.float32 for d in decoded)
    assert all(d.tobytes() == p.tobytes() for d, p in zip(decoded, pieces))
    assert not np.isfinite(decoded[3]).all()  # the NaN's tensor: its NaN scale spoils it, as it should
