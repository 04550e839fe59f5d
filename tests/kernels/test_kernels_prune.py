"""SparseGPT, the OPTIMA closed-form reconstruction, and the expected method orderings."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from fedsim_kernels import (
    LayerStats,
    QuantSpec,
    layer_output_error,
    magnitude_score,
    mask_density,
    nm_mask,
    optimal_reconstruction,
    sparsegpt_prune,
    unstructured_mask,
    wanda_score,
)

D_OUT, D_IN = 64, 256
OUTLIERS = [5, 77, 130, 201]



@functools.lru_cache(maxsize=None)
def _calib(seed: int = 1, outlier_scale: float = 50.0, tokens: int = 2048) -> tuple[torch.Tensor, LayerStats]:
    """LLM-like activations: correlated channels, a few outlier channels ×50."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.eye(D_IN) + 0.5 * torch.randn(D_IN, D_IN, generator=g) / math.sqrt(D_IN)
    X = torch.randn(tokens, D_IN, generator=g) @ mix
    X[:, OUTLIERS] *= outlier_scale
    stats = LayerStats(with_hessian=True)
    for xb in X.split(256):
        stats.update(xb)
    return X, stats


def _weights(kind: str, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    if kind == "gauss":
        return torch.randn(D_OUT, D_IN)
    if kind == "student":
        return torch.distributions.StudentT(3.0).sample((D_OUT, D_IN))
    return torch.distributions.Laplace(0.0, 1.0).sample((D_OUT, D_IN))


def test_layer_output_error_is_mean_squared_output_change():
    X, st = _calib()
    W = _weights("gauss")
    W_hat = W * unstructured_mask(magnitude_score(W), 0.5)
    direct = float(((X.double() @ (W - W_hat).double().T) ** 2).sum(1).mean())
    assert layer_output_error(W, W_hat, st.H) == pytest.approx(direct, rel=1e-9)
    assert layer_output_error(W, W, st.H) == 0.0


@pytest.mark.parametrize("damp", [0.0, 0.01])
def test_sparsegpt_at_zero_sparsity_returns_w(damp):
    W, H = _weights("student"), _calib()[1].H
    W_hat, mask = sparsegpt_prune(W, H, sparsity=0.0, damp=damp)
    assert torch.equal(W_hat, W) and mask.all()
    W_hat, mask = sparsegpt_prune(W, H, n=4, m=4)
    assert torch.equal(W_hat, W) and mask.all()


@pytest.mark.parametrize("kind", ["gauss", "student"])
def test_sparsegpt_masks_have_the_requested_structure(kind):
    W, H = _weights(kind), _calib()[1].H
    W_hat, mask = sparsegpt_prune(W, H, sparsity=0.5)
    assert mask_density(mask) == 0.5
    assert torch.all(mask[:, :128].sum() == D_OUT * 64)  # exact per block of 128 columns
    assert torch.all(W_hat[~mask] == 0) and W_hat.dtype == W.dtype
    W_hat, mask = sparsegpt_prune(W, H, n=2, m=4)
    assert torch.all(mask.reshape(D_OUT, -1, 4).sum(-1) == 2)
    assert torch.all(W_hat[~mask] == 0)


@pytest.mark.parametrize("granularity", ["channel", "tensor"])
def test_sparsegpt_joint_quantization_lands_on_the_grid(granularity):
    W, H = _weights("laplace"), _calib()[1].H
    spec = QuantSpec(4, granularity=granularity)
    W_hat, mask = sparsegpt_prune(W, H, n=2, m=4, quant_spec=spec)
    assert torch.all(W_hat[~mask] == 0)
    scale = (W.abs().amax(1, keepdim=True) if granularity == "channel" else W.abs().max()) / 7
    codes = W_hat / scale
    torch.testing.assert_close(codes, codes.round(), atol=1e-4, rtol=0)
    assert codes.abs().max() <= 8 + 1e-4
    # joint quantization costs accuracy compared with pruning alone, but far less than RTN after pruning
    e_joint = layer_output_error(W, W_hat, H)
    e_prune = layer_output_error(W, sparsegpt_prune(W, H, n=2, m=4)[0], H)
    assert e_prune < e_joint


def _kkt_residual(W, W_hat, H, mask, damp):
    H = H.double().clone()
    H += damp * torch.diagonal(H).mean() * torch.eye(H.shape[0], dtype=torch.float64)
    r = W_hat.double() - W.double()
    grad = r @ H  # row i: H r_i (H symmetric)
    scale = (W.double().abs() @ H.abs()).max()
    return grad[mask].abs().max() / scale, r


@pytest.mark.parametrize("kind", ["gauss", "student"])
@pytest.mark.parametrize("damp", [0.0, 0.01])
@pytest.mark.parametrize("pattern", ["wanda50", "wanda24", "random"])
def test_optima_satisfies_kkt_and_never_increases_the_error(kind, damp, pattern):
    W, H = _weights(kind, 3), _calib()[1].H
    s = _calib()[1].s
    if pattern == "wanda50":
        mask = unstructured_mask(wanda_score(W, s), 0.5)
    elif pattern == "wanda24":
        mask = nm_mask(wanda_score(W, s))
    else:
        mask = torch.rand(D_OUT, D_IN, generator=torch.Generator().manual_seed(9)) < 0.4
    W64 = W.double()
    W_hat = optimal_reconstruction(W64, H, mask, damp=damp)
    rel, r = _kkt_residual(W64, W_hat, H, mask, damp)
    assert rel < 1e-9  # gradient H r vanishes on the kept coordinates
    assert torch.equal(r[~mask], -W64[~mask])  # r_P = −w_P: pruned weights are exactly zero
    e_opt = layer_output_error(W, W_hat, H)
    assert e_opt <= layer_output_error(W, W * mask, H)


def test_optima_grouped_rows_match_a_per_row_solve():
    """Rows sharing a pattern are solved together; the result equals an independent numpy solve."""
    W, H = _weights("gauss", 4).double(), _calib()[1].H
    base = nm_mask(torch.randn(4, D_IN, generator=torch.Generator().manual_seed(2)))
    mask = base.repeat(D_OUT // 4, 1)  # only 4 distinct patterns
    mask[0, :4] = torch.tensor([True, True, False, False])  # ... plus one odd row
    W_hat = optimal_reconstruction(W, H, mask, damp=0.0).numpy()
    Hn, Wn = H.numpy(), W.numpy()
    for i in (0, 1, 5, 63):
        K, P = np.flatnonzero(mask[i].numpy()), np.flatnonzero(~mask[i].numpy())
        expect = Wn[i, K] + np.linalg.solve(Hn[np.ix_(K, K)], Hn[np.ix_(K, P)] @ Wn[i, P])
        np.testing.assert_allclose(W_hat[i, K], expect, rtol=1e-9, atol=1e-9)
        assert np.all(W_hat[i, P] == 0)


def test_optima_is_at_least_as_good_as_sparsegpt_with_the_same_mask():
    W, H = _weights("gauss", 5), _calib()[1].H
    for kw in (dict(sparsity=0.5), dict(n=2, m=4)):
        W_sgpt, mask = sparsegpt_prune(W, H, **kw)
        e_sgpt = layer_output_error(W, W_sgpt, H)
        e_opt = layer_output_error(W, optimal_reconstruction(W.double(), H, mask, damp=0.0), H)
        assert e_opt <= e_sgpt


def test_optima_dead_inputs_and_bad_arguments():
    W, H = _weights("gauss"), _calib()[1].H.clone()
    H[7, :] = H[:, 7] = 0.0
    mask = unstructured_mask(magnitude_score(W), 0.5)
    W_hat = optimal_reconstruction(W, H, mask)
    assert torch.isfinite(W_hat).all()
    with pytest.raises(ValueError, match="mask has shape"):
        optimal_reconstruction(W, H, mask[:, :8])
    with pytest.raises(ValueError, match="damp=-1"):
        optimal_reconstruction(W, H, mask, damp=-1)
    with pytest.raises(ValueError, match="sparsity"):
        sparsegpt_prune(W, H)
    with pytest.raises(ValueError, match="sparsity=1.5"):
        sparsegpt_prune(W, H, sparsity=1.5)
    with pytest.raises(ValueError, match="m=3"):
        sparsegpt_prune(W, H, n=2, m=3)
    with pytest.raises(ValueError, match="H has shape"):
        sparsegpt_prune(W, H[:3, :3], sparsity=0.5)


@pytest.mark.parametrize("kind", ["gauss", "student"])
def test_orderings_on_llm_like_activations(kind):
    """magnitude > Wanda ≳ SparseGPT, and 2:4 is worse than 50% unstructured for each method."""
    W = _weights(kind, 6)
    st = _calib()[1]
    H, s = st.H, st.s
    err = {}
    for structure in ("50%", "2:4"):
        prune = (lambda sc: unstructured_mask(sc, 0.5)) if structure == "50%" else nm_mask
        err["magnitude", structure] = layer_output_error(W, W * prune(magnitude_score(W)), H)
        err["wanda", structure] = layer_output_error(W, W * prune(wanda_score(W, s)), H)
        kw = dict(sparsity=0.5) if structure == "50%" else dict(n=2, m=4)
        err["sparsegpt", structure] = layer_output_error(W, sparsegpt_prune(W, H, **kw)[0], H)
    for structure in ("50%", "2:4"):
        assert err["magnitude", structure] > 5 * err["wanda", structure]
        assert err["sparsegpt", structure] <= 1.02 * err["wanda", structure]
    for method in ("magnitude", "wanda", "sparsegpt"):
        assert err[method, "2:4"] > err[method, "50%"]


@pytest.mark.parametrize("damp", [0.0, 0.01])
@pytest.mark.parametrize("pattern", ["wanda50", "wanda24", "random"])
def test_optima_iterative_solve_meets_the_same_kkt_conditions_as_the_direct_one(damp, pattern):
    W, (_, stats) = _weights("student", 3), _calib()
    H, s = stats.H, stats.s
    mask = {"wanda50": lambda: unstructured_mask(wanda_score(W, s), 0.5), "wanda24": lambda: nm_mask(wanda_score(W, s)),
            "random": lambda: torch.rand(D_OUT, D_IN, generator=torch.Generator().manual_seed(9)) < 0.4}[pattern]()
    W64 = W.double()
    direct = optimal_reconstruction(W64, H, mask, damp=damp, method="direct")
    iterative = optimal_reconstruction(W64, H, mask, damp=damp, method="iterative", tol=1e-9)
    rel, r = _kkt_residual(W64, iterative, H, mask, damp)
    assert rel < 1e-9
    assert torch.equal(r[~mask], -W64[~mask])
    torch.testing.assert_close(iterative, direct, rtol=1e-7, atol=1e-9)
    # The default tolerance (one float32 CG pass) is already within tol² of the optimum's error.
    loose = optimal_reconstruction(W64, H, mask, damp=damp, method="iterative")
    e_loose, e_exact = layer_output_error(W64, loose, H), layer_output_error(W64, direct, H)
    assert e_exact * (1 - 1e-9) <= e_loose <= e_exact * (1 + 1e-8) and e_loose <= layer_output_error(W64, W64 * mask, H)
    with pytest.raises(ValueError, match="method='lu'"):
        optimal_reconstruction(W64, H, mask, method="lu")
