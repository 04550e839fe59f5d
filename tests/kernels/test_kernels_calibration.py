"""LayerStats: streaming sums, exact federated merge, transport, and the masks they yield."""

from __future__ import annotations

import math

import pytest
import torch

from fedsim_kernels import LayerStats, nm_mask, unstructured_mask, wanda_score

D_IN = 64
OUTLIERS = [3, 17, 40]



def _batches(seed: int, n_batches: int = 12, heavy: bool = False) -> list[torch.Tensor]:
    """LLM-like inputs (batch, seq, d_in): a few outlier channels ×50, optionally Student-t."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in range(n_batches):
        if heavy:
            x = torch.distributions.StudentT(2.5).sample((4, 16, D_IN))
        else:
            x = torch.randn(4, 16, D_IN, generator=g)
        x[..., OUTLIERS] *= 50
        x *= 10.0 ** (b % 5 - 2)  # widely varying magnitudes across batches stress the summation
        out.append(x)
    return out


def _accumulate(batches, **kw) -> LayerStats:
    st = LayerStats(**kw)
    for x in batches:
        st.update(x)
    return st


def _assert_same(a: LayerStats, b: LayerStats) -> None:
    assert a.count == b.count and a.num_samples == b.num_samples
    assert torch.equal(a.sq_norms, b.sq_norms)
    assert torch.equal(a.absmax, b.absmax)
    assert torch.equal(a.s, b.s)
    if a.with_hessian:
        assert torch.equal(a.hessian, b.hessian)
        assert torch.equal(a.H, b.H)


def test_statistics_match_their_definitions():
    batches = _batches(0, 5)
    st = _accumulate(batches, with_hessian=True)
    X = torch.cat([x.reshape(-1, D_IN) for x in batches]).double()
    assert st.count == X.shape[0] == 5 * 4 * 16
    assert st.num_samples == 5 * 4  # samples = leading dim of each call
    torch.testing.assert_close(st.sq_norms, (X**2).sum(0), rtol=1e-12, atol=0)
    torch.testing.assert_close(st.s, (X**2).sum(0) / 20, rtol=1e-12, atol=0)
    torch.testing.assert_close(st.H, X.T @ X / X.shape[0], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(st.absmax, X.abs().amax(0), rtol=0, atol=0)
    assert st.sq_norms.dtype == st.hessian.dtype == torch.float64


def test_sample_convention_for_2d_and_1d_inputs():
    st = LayerStats(4).update(torch.ones(3, 4)).update(torch.ones(4))
    assert (st.count, st.num_samples) == (4, 4)
    assert torch.equal(st.s, torch.ones(4, dtype=torch.float64))


def test_sums_are_exact_correctly_rounded_totals():
    """The stored sum equals math.fsum (the correctly rounded exact sum) of per-batch terms."""
    batches = _batches(1, 40)
    st = _accumulate(batches)
    terms = [(x.reshape(-1, D_IN).double() ** 2).sum(0) for x in batches]
    exact = torch.tensor([math.fsum(float(t[j]) for t in terms) for j in range(D_IN)], dtype=torch.float64)
    assert torch.equal(st.sq_norms, exact)


@pytest.mark.parametrize("heavy", [False, True])
@pytest.mark.parametrize("cuts", [(3, 7), (1, 2, 11), (6,)])
def test_merged_shards_equal_centralized_bit_for_bit(heavy, cuts):
    batches = _batches(2, 12, heavy)
    central = _accumulate(batches, with_hessian=True)
    bounds = (0, *cuts, len(batches))
    shards = [_accumulate(batches[a:b], with_hessian=True) for a, b in zip(bounds, bounds[1:])]
    merged = LayerStats(with_hessian=True)
    for sh in shards:
        merged.merge(sh)
    _assert_same(merged, central)
    # merge order does not matter either
    rev = LayerStats(with_hessian=True)
    for sh in reversed(shards):
        rev.merge(sh)
    _assert_same(rev, central)


def test_merged_stats_give_identical_wanda_masks():
    batches = _batches(3, 12)
    central = _accumulate(batches)
    merged = _accumulate(batches[:5]).merge(_accumulate(batches[5:9])).merge(_accumulate(batches[9:]))
    W = torch.randn(32, D_IN, generator=torch.Generator().manual_seed(4))
    assert torch.equal(wanda_score(W, merged.s), wanda_score(W, central.s))
    assert torch.equal(unstructured_mask(wanda_score(W, merged.s), 0.5), unstructured_mask(wanda_score(W, central.s), 0.5))
    assert torch.equal(nm_mask(wanda_score(W, merged.s)), nm_mask(wanda_score(W, central.s)))


def test_state_round_trip_and_merge_after_transport():
    batches = _batches(5, 6)
    a, b = _accumulate(batches[:2], with_hessian=True), _accumulate(batches[2:], with_hessian=True)
    state = a.to_state()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    a2 = LayerStats.from_state(state)
    _assert_same(a2, a)
    _assert_same(a2.merge(LayerStats.from_state(b.to_state())), _accumulate(batches, with_hessian=True))
    empty = LayerStats.from_state(LayerStats().to_state())
    assert empty.count == 0 and empty.d_in is None


def test_merge_with_empty_and_bad_arguments():
    st = _accumulate(_batches(6, 2))
    before = st.sq_norms.clone()
    st.merge(LayerStats())
    assert torch.equal(st.sq_norms, before)
    with pytest.raises(ValueError, match="d_in"):
        st.update(torch.ones(2, D_IN + 1))
    with pytest.raises(ValueError, match="with_hessian"):
        st.merge(LayerStats(D_IN, with_hessian=True))
    with pytest.raises(ValueError, match="d_in"):
        st.merge(LayerStats(D_IN + 1).update(torch.ones(1, D_IN + 1)))
    with pytest.raises(ValueError, match="with_hessian=True"):
        _ = st.H
    with pytest.raises(ValueError, match="count=0"):
        _ = LayerStats(3).s
    with pytest.raises(ValueError, match="d_in"):
        LayerStats(0)
    with pytest.raises(ValueError, match="missing key"):
        LayerStats.from_state({"count": torch.tensor(1)})
