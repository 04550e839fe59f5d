"""Learnable masks (LEAP Gumbel-sigmoid, PATCH Gumbel 2:4 + tile gates), schedules, MaskedLinear."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fedsim_kernels.learnable import (
    PATTERNS_24,
    Gumbel24Mask,
    GumbelSigmoidMask,
    MaskedLinear,
    exponential_schedule,
    linear_schedule,
)



def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_24(shape=(20, 40), tile=(8, 16), seed=0, **kwargs) -> Gumbel24Mask:
    g = _gen(seed)
    n_tiles = (math.ceil(shape[0] / tile[0]), math.ceil(shape[1] / tile[1]))
    return Gumbel24Mask(
        shape,
        tile=tile,
        pattern_logits=torch.randn(shape[0], shape[1] // 4, 6, generator=g),
        gate_logits=torch.randn(n_tiles, generator=g),
        generator=_gen(seed + 1),
        **kwargs,
    )


def _check_tile_hybrid(mask: torch.Tensor, dense_tiles: torch.Tensor, tile: tuple[int, int]) -> None:
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    for i in range(dense_tiles.shape[0]):
        for j in range(dense_tiles.shape[1]):
            block = mask[i * tile[0] : (i + 1) * tile[0], j * tile[1] : (j + 1) * tile[1]]
            if dense_tiles[i, j]:
                assert bool((block == 1).all())
            else:
                assert bool((block.reshape(block.shape[0], -1, 4).sum(-1) == 2).all())


# ----------------------------------------------------------------------------- 2:4 structure
def test_patterns_are_the_six_2_of_4_choices():
    assert PATTERNS_24.shape == (6, 4)
    assert bool((PATTERNS_24.sum(1) == 2).all())
    assert len({tuple(r.tolist()) for r in PATTERNS_24}) == 6


def test_hard_24_mask_is_exact_with_dense_tiles_fully_dense():
    mask = _random_24()  # 20x40 with 8x16 tiles: edge tiles are cropped
    dense = mask.dense_tiles()
    assert 0 < dense.sum() < dense.numel()  # both kinds present
    hm = mask.hard_mask()
    _check_tile_hybrid(hm, dense, mask.tile)
    # Eval-mode forward is the hard mask.
    torch.testing.assert_close(mask.eval()(), hm)


def test_straight_through_samples_are_exact_24_too():
    mask = _random_24(hard=True).train()
    for _ in range(5):
        sample = mask()
        # Gates are sampled too, so the dense tiles are read off the sample itself.
        blocks = sample.detach()
        dense = torch.zeros(mask.gate_logits.shape, dtype=torch.bool)
        for i in range(dense.shape[0]):
            for j in range(dense.shape[1]):
                blk = blocks[i * 8 : (i + 1) * 8, j * 16 : (j + 1) * 16]
                dense[i, j] = bool((blk == 1).all())
        _check_tile_hybrid(blocks, dense, mask.tile)


def test_ungated_mask_is_pure_24_even_when_relaxed():
    mask = _random_24(gated=False).train()
    assert mask.density().item() == pytest.approx(0.5)
    soft = mask()  # a pattern mixture keeps exactly 2 per group in expectation and in each sample
    torch.testing.assert_close(soft.reshape(20, -1, 4).sum(-1), torch.full((20, 10), 2.0))
    _check_tile_hybrid(mask.hard_mask(), torch.zeros(3, 3, dtype=torch.bool), mask.tile)


# ----------------------------------------------------------------------------- densities
def test_sigmoid_mask_expected_density_matches_formula_and_samples():
    logits = torch.randn(30, 40, generator=_gen(0))
    mask = GumbelSigmoidMask(logits.shape, logits=logits, scale=1.5, hard=True, generator=_gen(1)).train()
    expected = torch.sigmoid(1.5 * logits).mean()
    torch.testing.assert_close(mask.density(), expected)
    # Hard Gumbel-sigmoid samples are Bernoulli(sigmoid(scale·logit)).
    mean = torch.stack([mask() for _ in range(400)]).mean(0)
    assert abs(mean.mean().item() - expected.item()) < 0.01
    assert (mean - torch.sigmoid(1.5 * logits)).abs().max().item() < 0.12


def test_tile_hybrid_expected_density_formula():
    mask = _random_24(scale=2.0, hard=True).train()
    p = torch.sigmoid(2.0 * mask.gate_logits.detach())
    rows = torch.tensor([8.0, 8.0, 4.0])
    cols = torch.tensor([16.0, 16.0, 8.0])
    sizes = torch.outer(rows, cols)
    expected = 0.5 + 0.5 * (p * sizes).sum() / (20 * 40)
    torch.testing.assert_close(mask.density().detach(), expected)
    mean = torch.stack([mask().detach().mean() for _ in range(400)]).mean()
    assert abs(mean.item() - expected.item()) < 0.01
    # Hard mask: density = 0.5 + 0.5 · (dense element fraction).
    dense_elems = (mask.dense_tiles().float() * sizes).sum() / (20 * 40)
    assert mask.hard_mask().mean().item() == pytest.approx(0.5 + 0.5 * dense_elems.item())


def test_density_loss_targets_and_ranges():
    leap = GumbelSigmoidMask((4, 8), init_logit=0.0)
    assert leap.density_loss(0.3).item() == pytest.approx(0.04)
    patch = Gumbel24Mask((4, 8), tile=4, init_gate_logit=0.0)
    assert patch.density().item() == pytest.approx(0.75)
    assert patch.density_loss(0.5).item() == pytest.approx(0.0625)
    with pytest.raises(ValueError, match=r"target_density=0.3 must be in \[0.5, 1\]"):
        patch.density_loss(0.3)
    with pytest.raises(ValueError, match="target_density=1.5"):
        leap.density_loss(1.5)


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("kind", ["sigmoid", "24"])
def test_gradients_reach_logits_and_not_frozen_weights(kind, hard):
    torch.manual_seed(0)
    lin = nn.Linear(16, 8)
    if kind == "sigmoid":
        mask = GumbelSigmoidMask(lin.weight.shape, hard=hard, generator=_gen(0))
    else:
        mask = Gumbel24Mask(lin.weight.shape, tile=8, hard=hard, generator=_gen(0))
    layer = MaskedLinear(lin, mask).train()
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == [
        n for n, _ in mask.named_parameters(prefix="mask") if _.requires_grad
    ]
    x = torch.randn(32, 16)
    loss = (layer(x) ** 2).mean() + mask.density_loss(0.6)
    loss.backward()
    assert lin.weight.grad is None and lin.bias.grad is None
    assert not lin.weight.requires_grad
    for p in mask.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_masked_linear_eval_and_to_linear_use_the_hard_mask():
    torch.manual_seed(0)
    lin = nn.Linear(16, 8)
    mask = GumbelSigmoidMask(lin.weight.shape, logits=torch.randn(8, 16))
    layer = MaskedLinear(lin, mask).eval()
    x = torch.randn(5, 16)
    baked = layer.to_linear()
    torch.testing.assert_close(baked(x), layer(x))
    torch.testing.assert_close(baked.weight, lin.weight * (mask.logits > 0).float())
    torch.testing.assert_close(layer(x), layer(x))  # deterministic in eval mode


# ----------------------------------------------------------------------------- schedules
def test_schedules():
    lin = linear_schedule(1.0, 0.1, 10)
    assert lin(0) == pytest.approx(1.0)
    assert lin(5) == pytest.approx(0.55)
    assert lin(10) == pytest.approx(0.1) and lin(99) == pytest.approx(0.1) and lin(-3) == pytest.approx(1.0)
    exp = exponential_schedule(1.0, 0.01, 10)
    assert exp(0) == pytest.approx(1.0)
    assert exp(5) == pytest.approx(0.1)
    assert exp(10) == pytest.approx(0.01) and exp(50) == pytest.approx(0.01)
    assert exponential_schedule(1.0, 100.0, 4)(2) == pytest.approx(10.0)  # works upwards (mask scale)
    with pytest.raises(ValueError, match="steps=0"):
        linear_schedule(1.0, 0.0, 0)
    with pytest.raises(ValueError, match="end=0.0"):
        exponential_schedule(1.0, 0.0, 10)


@pytest.mark.parametrize("kind", ["sigmoid", "24"])
def test_annealing_brings_samples_to_the_hard_mask(kind):
    steps = 50
    temperature = exponential_schedule(1.0, 0.05, steps)
    scale = linear_schedule(1.0, 30.0, steps)
    if kind == "sigmoid":
        mask = GumbelSigmoidMask((32, 32), logits=torch.randn(32, 32, generator=_gen(0)), generator=_gen(1))
    else:
        mask = _random_24(shape=(32, 32), tile=(16, 16))
    mask.train()
    hard = mask.hard_mask()
    gaps = []
    for t in range(steps + 1):
        mask.temperature, mask.scale = temperature(t), scale(t)
        with torch.no_grad():
            gaps.append(torch.stack([(mask() - hard).abs().mean() for _ in range(8)]).mean().item())
    assert gaps[0] > 0.2
    assert gaps[-1] < 0.02
    assert gaps[-1] < gaps[steps // 2] < gaps[0]


# ----------------------------------------------------------------------------- learning
def _learn(mask: nn.Module, weight: torch.Tensor, target_density: float, steps: int = 200, lam: float = 20.0):
    """Loss = output MSE vs the dense layer (relative) + λ·density penalty; weights frozen."""
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(weight)
    layer = MaskedLinear(lin, mask).train()
    opt = torch.optim.Adam([p for p in layer.parameters() if p.requires_grad], lr=0.05)
    temperature = exponential_schedule(1.0, 0.1, steps)
    scale = linear_schedule(1.0, 5.0, steps)
    g = _gen(123)
    for t in range(steps):
        mask.temperature, mask.scale = temperature(t), scale(t)
        x = torch.randn(64, weight.shape[1], generator=g)
        y = x @ weight.t()
        loss = ((layer(x) - y) ** 2).mean() / (y**2).mean() + lam * mask.density_loss(target_density)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return mask.hard_mask()


def test_leap_mask_learns_to_keep_large_weights():
    w = torch.randn(32, 64, generator=_gen(0))
    hm = _learn(GumbelSigmoidMask(w.shape, init_logit=0.0, generator=_gen(1)), w, target_density=0.5)
    assert abs(hm.mean().item() - 0.5) < 0.05
    top = (w.abs() > w.abs().flatten().median()).float()
    assert (hm == top).float().mean().item() > 0.9


def test_patch_mask_learns_magnitude_24_patterns():
    w = torch.randn(32, 64, generator=_gen(0))
    hm = _learn(Gumbel24Mask(w.shape, tile=16, generator=_gen(1)), w, target_density=0.5)
    groups = w.abs().reshape(32, 16, 4)
    top2 = torch.zeros_like(groups).scatter_(-1, groups.topk(2, -1).indices, 1.0).reshape(32, 64)
    assert hm.mean().item() == pytest.approx(0.5)  # every tile 2:4
    assert (hm == top2).float().mean().item() > 0.9


def test_patch_gates_keep_the_important_tiles_dense():
    big = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0]], dtype=torch.bool)
    w = torch.randn(32, 64, generator=_gen(0))
    w = w * (1 + 3 * big.float()).repeat_interleave(16, 0).repeat_interleave(16, 1)
    mask = Gumbel24Mask(w.shape, tile=16, generator=_gen(1))
    hm = _learn(mask, w, target_density=0.75)  # global sparsity 0.25: half of the tiles dense
    assert torch.equal(mask.dense_tiles(), big)
    _check_tile_hybrid(hm, big, mask.tile)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Gumbel24Mask((8, 10)), "d_in=10"),
        (lambda: Gumbel24Mask((8, 16), tile=(8, 6)), r"tile=\(8, 6\)"),
        (lambda: Gumbel24Mask((8, 16), gate_logits=torch.zeros(3, 3)), "gate_logits.shape"),
        (lambda: GumbelSigmoidMask((4, 4), temperature=0.0), "temperature=0.0"),
        (lambda: GumbelSigmoidMask((4, 4), scale=-1.0), "scale=-1.0"),
        (lambda: GumbelSigmoidMask((4, 4), logits=torch.zeros(3, 4)), "logits.shape"),
        (lambda: MaskedLinear(nn.Linear(4, 4), GumbelSigmoidMask((4, 8))), "mask.shape"),
        (lambda: MaskedLinear(nn.Conv1d(4, 4, 1), GumbelSigmoidMask((4, 4))), "linear=Conv1d"),
    ],
)
def test_bad_arguments_raise_value_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()
