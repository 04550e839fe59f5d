"""Pruning scores and masks: exact N:M counts, SLoPe double pruning, PATCH tile-hybrid density."""

from __future__ import annotations

import math

import pytest
import torch

from fedsim_kernels import (
    double_pruned_mask,
    magnitude_score,
    mask_density,
    nm_mask,
    tile_hybrid_mask,
    unstructured_mask,
    wanda_score,
)



def _weights(kind: str, shape=(64, 256), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if kind == "gauss":
        return torch.randn(*shape, generator=g)
    if kind == "laplace":
        return torch.distributions.Laplace(0.0, 1.0).sample(shape)
    if kind == "student":
        return torch.distributions.StudentT(3.0).sample(shape)
    if kind == "ties":  # many exactly equal scores
        return torch.randint(-2, 3, shape, generator=g).float()
    raise AssertionError(kind)


KINDS = ["gauss", "laplace", "student", "ties"]


def _outlier_s(d_in: int = 256, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    s = torch.rand(d_in, generator=g, dtype=torch.float64) + 0.5
    s[[5, 77, 130, 201]] *= 50.0**2
    return s


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (4, 8), (3, 8)])
def test_nm_mask_keeps_exactly_n_of_m_and_the_largest(kind, n, m):
    score = magnitude_score(_weights(kind))
    mask = nm_mask(score, n, m)
    groups, gm = score.reshape(64, -1, m), mask.reshape(64, -1, m)
    assert torch.all(gm.sum(-1) == n)
    kept_min = torch.where(gm, groups, torch.full_like(groups, math.inf)).amin(-1)
    pruned_max = torch.where(~gm, groups, torch.full_like(groups, -math.inf)).amax(-1)
    assert torch.all(kept_min >= pruned_max)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_unstructured_mask_counts_per_row_and_global(kind, sparsity):
    score = wanda_score(_weights(kind), _outlier_s())
    mask = unstructured_mask(score, sparsity)
    pruned = math.floor(sparsity * 256 + 1e-9)
    assert torch.all((~mask).sum(1) == pruned)
    kept_min = torch.where(mask, score, torch.full_like(score, math.inf)).amin(1)
    pruned_max = torch.where(~mask, score, torch.full_like(score, -math.inf)).amax(1)
    assert torch.all(kept_min >= pruned_max)
    glob = unstructured_mask(score, sparsity, per_row=False)
    assert int((~glob).sum()) == math.floor(sparsity * score.numel() + 1e-9)


def test_wanda_score_definition_and_magnitude_special_case():
    W, s = _weights("gauss"), _outlier_s()
    torch.testing.assert_close(wanda_score(W, s), W.abs() * s.sqrt().float())
    assert torch.equal(wanda_score(W, torch.ones(256)), magnitude_score(W))
    # outlier channels are (almost always) kept by Wanda, about half the time by magnitude
    kept_wanda = nm_mask(wanda_score(W, s))[:, [5, 77, 130, 201]].float().mean()
    kept_mag = nm_mask(magnitude_score(W))[:, [5, 77, 130, 201]].float().mean()
    assert kept_wanda > 0.95 and kept_mag < 0.7


@pytest.mark.parametrize("kind", KINDS)
def test_double_pruned_mask_is_subset_and_nm_along_both_axes(kind):
    W = _weights(kind, shape=(128, 256))
    row = nm_mask(magnitude_score(W), 2, 4)
    dp = double_pruned_mask(W, 2, 4)
    assert torch.all(dp <= row)  # subset of the row mask
    assert torch.all(dp.reshape(128, -1, 4).sum(-1) <= 2)
    assert torch.all(dp.T.reshape(256, -1, 4).sum(-1) <= 2)  # N:M along columns too
    # score and weight give the same mask (scores are |W|)
    assert torch.equal(dp, double_pruned_mask(magnitude_score(W), 2, 4))


def test_double_pruned_density_matches_slope_on_random_data():
    W = _weights("gauss", shape=(256, 256), seed=3)
    dens = mask_density(double_pruned_mask(W, 2, 4))
    assert abs(dens - 26 / 64) <= 0.02  # E[min(Bin(4, 1/2), 2)]/4 = 0.40625


@pytest.mark.parametrize("frac", [0.0, 0.25, 0.5, 1.0])
def test_tile_hybrid_density_formula_with_fraction(frac):
    score = wanda_score(_weights("student"), _outlier_s())
    mask = tile_hybrid_mask(score, frac, tile=32)  # 2×8 = 16 tiles
    assert mask_density(mask) == pytest.approx(0.5 + 0.5 * frac, abs=1e-12)
    tiles = mask.reshape(2, 32, 8, 32).permute(0, 2, 1, 3).reshape(16, 32, 32)
    dense = tiles.all(dim=(1, 2))
    assert int(dense.sum()) == round(frac * 16)
    for t in tiles[~dense]:  # the other tiles are exactly 2:4
        assert torch.all(t.reshape(32, 8, 4).sum(-1) == 2)


def test_tile_hybrid_with_explicit_gate_and_its_choice_of_dense_tiles():
    score = magnitude_score(_weights("laplace"))
    gate = torch.zeros(2, 8, dtype=torch.bool)
    gate[0, 3] = gate[1, 0] = gate[1, 7] = True
    mask = tile_hybrid_mask(score, gate, tile=32)
    assert mask_density(mask) == pytest.approx(0.5 + 0.5 * 3 / 16, abs=1e-12)
    assert mask[:32, 96:128].all() and mask[32:, :32].all() and mask[32:, 224:].all()
    assert torch.equal(mask[:32, :32], nm_mask(score)[:32, :32])
    # with a fraction, the dense tiles are the ones 2:4 would hurt most
    boosted = score.clone()
    boosted[32:, 64:96] *= 100
    assert tile_hybrid_mask(boosted, 1 / 16, tile=32)[32:, 64:96].all()


def test_mask_density():
    assert mask_density(torch.tensor([[True, False], [True, True]])) == 0.75
    assert mask_density(nm_mask(torch.randn(8, 16))) == 0.5


def test_bad_arguments_raise_value_errors():
    s = torch.randn(8, 12)
    with pytest.raises(ValueError, match="m=8"):
        nm_mask(s, 2, 8)
    with pytest.raises(ValueError, match="n=5"):
        nm_mask(s, 5, 4)
    with pytest.raises(ValueError, match="sparsity=1.5"):
        unstructured_mask(s, 1.5)
    with pytest.raises(ValueError, match="s has shape"):
        wanda_score(s, torch.ones(3))
    with pytest.raises(ValueError, match="d_out=6"):
        double_pruned_mask(torch.randn(6, 8))
    with pytest.raises(ValueError, match="dense_tiles"):
        tile_hybrid_mask(torch.randn(64, 64), torch.zeros(3, 3, dtype=torch.bool), tile=32)
    with pytest.raises(ValueError, match="2-D"):
        nm_mask(torch.randn(16))
