"""Low-rank compensation: SLiM-LoRA optimality, orientation, naive LoRA, re-factorization."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fedsim_kernels import (
    LayerStats,
    QuantSpec,
    dequantize,
    layer_output_error,
    naive_lora,
    nm_mask,
    quantize,
    quantize_adapter,
    rank_from_ratio,
    refactorize,
    slim_lora,
    wanda_score,
)



D_OUT, D_IN = 64, 256


def _setup(kind: str = "gauss", seed: int = 0, dtype=torch.float64):
    """W, its 2:4 + 4-bit compression W_c, activations X with outlier channels, and LayerStats."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    W = torch.randn(D_OUT, D_IN, generator=g) if kind == "gauss" else torch.distributions.StudentT(3.0).sample((D_OUT, D_IN))
    X = torch.randn(1024, D_IN, generator=g)
    X[:, [5, 77, 130, 201]] *= 50
    st = LayerStats(with_hessian=True).update(X)
    W_c = nm_mask(wanda_score(W, st.s)) * dequantize(quantize(W, QuantSpec(4, granularity="channel")))
    return W.to(dtype), W_c.to(dtype), X, st


def _weighted_error(W, W_c, s, L, R) -> float:
    E = (W - W_c).double() - (L @ R).double().T
    return float(((E * s.double().sqrt().unsqueeze(0)) ** 2).sum())


def test_shapes_orientation_and_forward():
    W, W_c, X, st = _setup(dtype=torch.float32)
    L, R = slim_lora(W, W_c, st.s, 8)
    assert L.shape == (D_IN, 8) and R.shape == (8, D_OUT) and L.dtype == R.dtype == torch.float32
    x = X[:16]
    # forward y = x·W_cᵀ + (x·L)·R approximates x·Wᵀ better than the compressed layer alone
    y, y_c, y_a = x @ W.T, x @ W_c.T, x @ W_c.T + (x @ L) @ R
    assert (y_a - y).norm() < 0.7 * (y_c - y).norm()


@pytest.mark.parametrize("kind", ["gauss", "student"])
def test_full_rank_adapter_restores_w_exactly(kind):
    W, W_c, _, st = _setup(kind)
    L, R = naive_lora(W, W_c, D_OUT)  # D = I, full rank
    torch.testing.assert_close(W_c + (L @ R).T, W, rtol=0, atol=1e-10)
    L, R = slim_lora(W, W_c, torch.ones(D_IN, dtype=torch.float64), D_OUT)
    torch.testing.assert_close(W_c + (L @ R).T, W, rtol=0, atol=1e-10)
    L, R = slim_lora(W, W_c, st.s, D_OUT)  # any invertible D restores W at full rank too
    torch.testing.assert_close(W_c + (L @ R).T, W, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["gauss", "student"])
@pytest.mark.parametrize("rank", [1, 6, 20])
def test_slim_lora_attains_the_brute_force_weighted_optimum(kind, rank):
    W, W_c, _, st = _setup(kind)
    s = st.s
    L, R = slim_lora(W, W_c, s, rank)
    # Eckart–Young with numpy: the best rank-r approximation of (W − W_c)·D
    d = np.sqrt(s.numpy())
    U, S, Vt = np.linalg.svd((W - W_c).numpy() * d[None, :], full_matrices=False)
    best = float(np.sum(S[rank:] ** 2))
    assert _weighted_error(W, W_c, s, L, R) == pytest.approx(best, rel=1e-9)
    best_correction = (U[:, :rank] * S[:rank]) @ Vt[:rank] / d[None, :]
    np.testing.assert_allclose((L @ R).T.numpy(), best_correction, rtol=1e-8, atol=1e-10)
    # random perturbations of the factors only make it worse
    g = torch.Generator().manual_seed(rank)
    for _ in range(3):
        Lp = L + 1e-3 * torch.randn(L.shape, generator=g, dtype=L.dtype) * L.abs().mean()
        assert _weighted_error(W, W_c, s, Lp, R) >= best


@pytest.mark.parametrize("kind", ["gauss", "student"])
def test_slim_beats_naive_on_weighted_error_and_naive_beats_slim_unweighted(kind):
    W, W_c, _, st = _setup(kind)
    r = rank_from_ratio(W.shape, 0.1)
    Ls, Rs = slim_lora(W, W_c, st.s, r)
    Ln, Rn = naive_lora(W, W_c, r)
    assert _weighted_error(W, W_c, st.s, Ls, Rs) < _weighted_error(W, W_c, st.s, Ln, Rn)
    ones = torch.ones(D_IN, dtype=torch.float64)
    assert _weighted_error(W, W_c, ones, Ln, Rn) < _weighted_error(W, W_c, ones, Ls, Rs)


def test_output_error_ordering_slim_lt_naive_lt_no_adapter():
    W, W_c, _, st = _setup("gauss", seed=3)
    r = rank_from_ratio(W.shape, 0.1)
    Ls, Rs = slim_lora(W, W_c, st.s, r)
    Ln, Rn = naive_lora(W, W_c, r)
    e_none = layer_output_error(W, W_c, st.H)
    e_naive = layer_output_error(W, W_c + (Ln @ Rn).T, st.H)
    e_slim = layer_output_error(W, W_c + (Ls @ Rs).T, st.H)
    assert e_slim < e_naive < e_none


def test_dead_channels_get_no_correction():
    W, W_c, _, st = _setup()
    s = st.s.clone()
    s[[0, 9]] = 0.0
    L, R = slim_lora(W, W_c, s, 8)
    assert torch.isfinite(L).all() and torch.all(L[[0, 9]] == 0)


@pytest.mark.parametrize("bits", [4, 8])
def test_quantize_adapter_error_is_half_a_step_per_row(bits):
    W, W_c, _, st = _setup(dtype=torch.float32)
    L, R = slim_lora(W, W_c, st.s, 8)
    for A in (L, R):
        qt = quantize_adapter(A, bits)
        assert qt.scale.shape == (A.shape[0], 1)
        assert torch.all((dequantize(qt) - A).abs() <= qt.step / 2 * (1 + 1e-5) + 1e-9)


def test_refactorize_averages_products_of_clients_with_different_ranks():
    g = torch.Generator().manual_seed(0)
    clients = [(torch.randn(D_IN, r, generator=g), torch.randn(r, D_OUT, generator=g)) for r in (2, 4, 8)]
    mean_product = torch.stack([L.double() @ R.double() for L, R in clients]).mean(0)
    L, R = refactorize(mean_product, 14)  # rank of the mean is at most 2 + 4 + 8
    assert L.shape == (D_IN, 14) and R.shape == (14, D_OUT)
    torch.testing.assert_close(L @ R, mean_product, rtol=0, atol=1e-9)
    # factor-wise averaging is inexact (for equal ranks, where it is even defined)
    same = [(torch.randn(D_IN, 4, generator=g), torch.randn(4, D_OUT, generator=g)) for _ in range(3)]
    exact = torch.stack([L_ @ R_ for L_, R_ in same]).mean(0)
    naive = torch.stack([L_ for L_, _ in same]).mean(0) @ torch.stack([R_ for _, R_ in same]).mean(0)
    assert (naive - exact).norm() > 0.5 * exact.norm()
    # truncation is the best rank-r approximation: error = tail singular values
    L4, R4 = refactorize(mean_product, 4)
    S = torch.linalg.svdvals(mean_product)
    assert float((mean_product - L4 @ R4).norm() ** 2) == pytest.approx(float((S[4:] ** 2).sum()), rel=1e-9)
    # the singular values are split evenly between the factors
    torch.testing.assert_close(L4.norm(dim=0), R4.norm(dim=1), rtol=1e-9, atol=0)


def test_rank_from_ratio_and_bad_arguments():
    assert rank_from_ratio((64, 256), 0.1) == 6
    assert rank_from_ratio((4096, 11008), 0.1) == 409
    assert rank_from_ratio((8, 8), 0.01) == 1
    assert rank_from_ratio((64, 256), 1.0) == 64
    W, W_c, _, st = _setup()
    with pytest.raises(ValueError, match="ratio=0"):
        rank_from_ratio((64, 256), 0)
    with pytest.raises(ValueError, match="rank=65"):
        slim_lora(W, W_c, st.s, 65)
    with pytest.raises(ValueError, match="s has shape"):
        slim_lora(W, W_c, st.s[:3], 4)
    with pytest.raises(ValueError, match="W_c has shape"):
        naive_lora(W, W_c[:, :8], 4)
    with pytest.raises(ValueError, match="s must be finite"):
        slim_lora(W, W_c, -st.s, 4)
    assert math.isfinite(float(refactorize(W, 3)[0].sum()))
