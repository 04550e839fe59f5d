import pytest
import torch

from fedsim.qnn import grid_step, quantize


@pytest.mark.parametrize("bits", [2, 3, 4, 8, 16])
def test_weights_land_on_the_grid_and_inside_the_clip_range(bits):
    w = torch.linspace(-3, 3, 1001)
    q = quantize(w, bits, clip=True)
    step = grid_step(bits)
    assert step == 2.0 ** -(bits - 1)
    assert torch.all(q.abs() <= 1.0)
    assert torch.allclose(q / step, torch.round(q / step), atol=1e-5)
    # Nearest rounding is within half a step of the clipped value.
    assert torch.all((q - w.clamp(-1, 1)).abs() <= step / 2 + 1e-6)


def test_activations_are_not_clipped():
    x = torch.tensor([-5.3, 2.26, 7.0])
    q = quantize(x, 3, clip=False)  # grid 0.25
    assert q.tolist() == [-5.25, 2.25, 7.0]


def test_full_precision_is_identity_and_one_bit_is_sign():
    x = torch.randn(100)
    assert torch.equal(quantize(x, 32, clip=True), x)
    s = quantize(x, 1, clip=True)
    assert set(s.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(s, torch.where(x >= 0, 1.0, -1.0))


def test_stochastic_rounding_is_unbiased_and_stays_on_neighbouring_levels():
    g = torch.Generator().manual_seed(0)
    x = torch.full((200_000,), 0.3)
    q = quantize(x, 3, clip=True, stochastic=True, generator=g)  # neighbours 0.25 and 0.5
    assert set(q.unique().tolist()) == {0.25, 0.5}
    assert q.mean().item() == pytest.approx(0.3, abs=2e-3)
    # P(round up) is the fractional position between the neighbours: 0.2.
    assert (q == 0.5).float().mean().item() == pytest.approx(0.2, abs=5e-3)


def test_stochastic_rounding_is_reproducible_per_generator_seed():
    x = torch.rand(1000)
    a = quantize(x, 4, clip=True, stochastic=True, generator=torch.Generator().manual_seed(7))
    b = quantize(x, 4, clip=True, stochastic=True, generator=torch.Generator().manual_seed(7))
    c = quantize(x, 4, clip=True, stochastic=True, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_straight_through_gradient():
    w = torch.tensor([-1.5, -0.3, 0.0, 0.42, 0.99, 2.0], requires_grad=True)
    quantize(w, 4, clip=True).sum().backward()
    # Identity through rounding, zero where the weight clip is active (|w| > 1).
    assert w.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    a = torch.tensor([-3.0, 0.1, 5.0], requires_grad=True)
    (quantize(a, 2, clip=False) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert a.grad.tolist() == [1.0, 2.0, 3.0]
