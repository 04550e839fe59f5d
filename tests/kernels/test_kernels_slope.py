"""SLoPe: the double-pruned backward, its masks, the lazy-adapter schedule and the MAC accounting."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fedsim_kernels as kernels
from fedsim_kernels.recipe import RecipeError, check_slope


def _weights(kind: str, shape=(64, 128), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "gauss":
        return torch.randn(*shape, generator=g)
    if kind == "ties":  # many exactly equal magnitudes
        return torch.randint(-2, 3, shape, generator=g).float()
    if kind == "aligned":  # adversarial: every row keeps the same columns, so the column pass halves them
        return torch.randn(1, shape[1], generator=g).expand(shape).contiguous()
    raise AssertionError(kind)


def _masks(W: torch.Tensor, n: int = 2, m: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    forward = kernels.nm_mask(W.abs(), n, m)
    return forward, kernels.double_pruned_backward_mask(W, forward, n, m)


@pytest.mark.parametrize("kind", ["gauss", "ties", "aligned"])
@pytest.mark.parametrize(("n", "m"), [(2, 4), (1, 4), (4, 8)])
def test_forward_mask_is_nm_along_inputs_and_backward_mask_a_subset_nm_along_outputs(kind, n, m):
    W = _weights(kind)
    forward, backward = _masks(W, n, m)
    d_out, d_in = W.shape
    assert torch.all(forward.reshape(d_out, -1, m).sum(-1) == n)  # exactly N of every M inputs
    assert torch.all(backward <= forward)  # a subset
    assert torch.all(backward.T.reshape(d_in, -1, m).sum(-1) <= n)  # N:M along the output dimension
    # what the column pass keeps is the largest kept |W| of each column group
    if kind == "aligned":
        assert kernels.mask_density(backward) == pytest.approx(n / m * n / m)


def test_double_pruned_density_is_the_papers_on_random_weights():
    forward, backward = _masks(_weights("gauss", (256, 256), seed=3))
    assert kernels.mask_density(backward) == pytest.approx(26 / 64, abs=0.02)


def _reference(x, W, b, forward, backward):
    """A dense autograd reference with the masks applied: its value is x·(W⊙M_f)ᵀ + b, its input
    gradient goes through W⊙M_b and its weight gradient is masked by M_f."""
    W_b, rest = W * backward, W * (forward & ~backward)
    return F.linear(x, W_b, b) + F.linear(x.detach(), rest)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_custom_autograd_equals_a_dense_reference_with_the_masks(dtype):
    g = torch.Generator().manual_seed(1)
    W = torch.randn(16, 24, generator=g, dtype=dtype)
    forward, backward = _masks(W)
    assert not torch.equal(forward, backward)
    b = torch.randn(16, generator=g, dtype=dtype)
    x = torch.randn(3, 5, 24, generator=g, dtype=dtype)
    upstream = torch.randn(3, 5, 16, generator=g, dtype=dtype)
    grads = []
    for fn in (lambda *a: kernels.slope_linear(*a, forward, backward), lambda *a: _reference(*a, forward, backward)):
        leaves = [t.clone().requires_grad_() for t in (x, W, b)]
        y = fn(*leaves)
        y.backward(upstream)
        grads.append((y.detach(), *[t.grad for t in leaves]))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    for ours, ref in zip(*grads):
        torch.testing.assert_close(ours, ref, **tol)
    _, grad_x, grad_w, _ = grads[0]
    torch.testing.assert_close(grad_x, upstream @ (W * backward), **tol)
    assert torch.all(grad_w[~forward] == 0)  # pruned weights get no gradient


def test_gradcheck_in_float64():
    g = torch.Generator().manual_seed(2)
    W = torch.randn(8, 12, generator=g, dtype=torch.float64)
    forward, backward = _masks(W)
    x = torch.randn(2, 3, 12, generator=g, dtype=torch.float64, requires_grad=True)
    Wp, b = W.clone().requires_grad_(), torch.randn(8, generator=g, dtype=torch.float64, requires_grad=True)
    # forward mask only: the exact gradient of x·(W⊙M_f)ᵀ + b in every input
    assert torch.autograd.gradcheck(lambda x, W, b: kernels.slope_linear(x, W, b, forward), (x, Wp, b))
    # double-pruned: the weight and bias gradients are still the exact ones ...
    assert torch.autograd.gradcheck(lambda W, b: kernels.slope_linear(x.detach(), W, b, forward, backward), (Wp, b))
    # ... and the input gradient is the exact Jacobian of x·(W⊙M_b)ᵀ
    ours = torch.autograd.functional.jacobian(lambda x: kernels.slope_linear(x, W, None, forward, backward), x.detach())
    exact = torch.autograd.functional.jacobian(lambda x: F.linear(x, W * backward), x.detach())
    assert torch.equal(ours, exact)


def test_a_slope_layer_keeps_its_static_mask_and_its_pruned_weights_at_zero():
    torch.manual_seed(0)
    layer = kernels.SLoPeLinear.from_linear(torch.nn.Linear(32, 16), n=2, m=4)
    mask = layer.forward_mask.clone()
    opt = torch.optim.AdamW(layer.parameters(), lr=0.05, weight_decay=0.1)
    for _ in range(5):
        loss = layer(torch.randn(8, 32)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(layer.forward_mask, mask)
    assert torch.all(layer.weight[~mask] == 0)
    assert torch.all(layer.backward_mask() <= mask)
    with torch.no_grad():  # inference: the plain masked GEMM
        x = torch.randn(4, 32)
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight * mask, layer.bias))


def test_adapters_start_silent_and_add_their_parameters():
    torch.manual_seed(0)
    layer = kernels.SLoPeLinear.from_linear(torch.nn.Linear(32, 16))
    x = torch.randn(4, 32)
    before = layer(x).detach()
    params = layer.add_adapters(4, torch.Generator().manual_seed(0))
    assert sum(p.numel() for p in params) == 4 * (32 + 16) and layer.rank == 4
    torch.testing.assert_close(layer(x), before)  # R = 0
    layer(x).sum().backward()
    assert layer.lora_R.grad.abs().sum() > 0


def test_the_lazy_schedule_trains_adapters_in_the_last_fraction():
    assert kernels.lazy_adapter_start(1000, 0.01) == 990
    assert kernels.lazy_adapter_start(600, 0.01) == 594
    assert kernels.lazy_adapter_start(10, 0.01) == 9  # at least one step
    assert kernels.lazy_adapter_start(50, 1.0) == 0  # from the start


@pytest.mark.parametrize(("call", "fragment"), [
    (lambda: kernels.SLoPeLinear(8, 8, n=4, m=4), "nm=(4, 4) is invalid"),
    (lambda: kernels.SLoPeLinear(8, 8, n=0, m=4), "nm=(0, 4) is invalid"),
    (lambda: check_slope(nm="4:2"), "nm='4:2' is invalid"),
    (lambda: kernels.lazy_adapter_start(100, 0.0), "adapter_fraction=0.0 is invalid; expected a float in (0, 1]"),
    (lambda: kernels.lazy_adapter_start(100, 1.5), "adapter_fraction=1.5 is invalid"),
    (lambda: check_slope(adapter_fraction=True), "adapter_fraction=True is invalid"),
    (lambda: kernels.SLoPeLinear(8, 8).add_adapters(0), "rank=0 is invalid; expected an int >= 1"),
    (lambda: check_slope(rank=1.5), "rank=1.5 is invalid"),
    (lambda: check_slope(backward="sparse"), "backward='sparse' is invalid"),
    (lambda: kernels.linear_macs(8, 8, backward="double_pruned"), "backward='double_pruned' is invalid"),
])
def test_bad_values_are_one_line_recipe_errors(call, fragment):
    with pytest.raises(RecipeError) as info:
        call()
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_linear_and_adapter_macs():
    D = 64 * 32
    dense = kernels.linear_macs(64, 32, tokens=10)
    assert (dense.forward, dense.input_grad, dense.weight_grad) == (10 * D, 10 * D, 10 * D)
    sparse = kernels.linear_macs(64, 32, tokens=10, nm="2:4")  # the forward mask alone: the backward stays dense
    assert (sparse.forward, sparse.input_grad, sparse.weight_grad) == (5 * D, 10 * D, 10 * D)
    slope = kernels.linear_macs(64, 32, tokens=10, nm=(2, 4), backward="double_pruned")
    assert (slope.forward, slope.backward, slope.total) == (5 * D, 15 * D, 20 * D)
    frozen = kernels.linear_macs(64, 32, nm="2:8", backward="double_pruned", train_weight=False)
    assert (frozen.forward, frozen.backward) == (D / 4, D / 4)
    assert kernels.adapter_macs(64, 32, 4, tokens=2).total == 3 * 2 * 4 * 96
    assert (dense + slope).forward == 15 * D and (2 * slope).total == 40 * D


CFG = kernels.TinyLMConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, context=16)
TEXT = kernels.generate_corpus(1, 4000)


def test_the_dense_arm_is_train_tiny_lm_and_a_fork_is_a_straight_run():
    dense, _ = kernels.train_slope_lm(CFG, TEXT, steps=6, batch=2, seed=4, nm=None)
    reference = kernels.train_tiny_lm(CFG, TEXT, steps=6, batch=2, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(dense.state_dict().values(), reference.state_dict().values()))
    straight, record = kernels.train_slope_lm(CFG, TEXT, steps=6, batch=2, seed=4, adapter_fraction=0.5, adapter_rank=2,
                                      eval_text=TEXT[:600], eval_every=2)
    trainer = kernels.SLoPeTrainer(CFG, TEXT, 6, 2, seed=4, eval_text=TEXT[:600], eval_every=2).run(3)
    branch = trainer.fork()
    branch.add_adapters(2)
    branch.run()
    trainer.run()  # the parent goes on without adapters, untouched by its fork
    assert record.adapter_start == branch.record.adapter_start == 3 and trainer.record.adapter_start is None
    assert record.perplexity == branch.record.perplexity and record.eval_steps == [2, 4, 6]
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), branch.model.state_dict().values()))
    assert trainer.record.perplexity[:1] == record.perplexity[:1] and "lora_L" not in str(trainer.model.state_dict().keys())


def test_an_exported_model_is_a_plain_tinylm_with_the_same_outputs():
    trainer = kernels.SLoPeTrainer(CFG, TEXT, 3, 2, seed=0).run()
    ids = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = trainer.model(ids)
        plain = kernels.TinyLM(CFG)
        plain.load_state_dict(kernels.export_linears(trainer.model).state_dict())
        torch.testing.assert_close(plain(ids), before)
    q = plain.blocks[0].attn.q_proj.weight
    assert torch.all(q.reshape(16, -1, 4).ne(0).sum(-1) <= 2)


def test_a_frozen_compressed_base_gets_the_double_pruned_input_gradient():
    torch.manual_seed(0)
    linear = torch.nn.Linear(32, 16)
    mask = kernels.nm_mask(linear.weight.abs())
    L, R = torch.randn(32, 4) * 0.1, torch.randn(4, 16) * 0.1
    base = kernels.CompressedLinear.from_linear(linear, bits=4, group_size=32, mask=mask, L=L, R=R)
    for p in base.parameters():
        p.requires_grad_(True)
    model = torch.nn.Sequential(base)
    assert kernels.use_double_pruned_backward(model, 2, 4) == 1
    slope = model[0]
    assert isinstance(slope, kernels.DoublePrunedCompressedLinear) and slope.lora_L.requires_grad
    assert sorted(dict(slope.named_parameters())) == ["lora_L", "lora_R"]
    x = torch.randn(3, 40, 32, requires_grad=True)
    upstream = torch.randn(3, 40, 16)
    y = slope(x)
    torch.testing.assert_close(y, base(x))  # the same forward
    y.backward(upstream)
    W = base.dequantized_weight()
    W_b = W * kernels.double_pruned_backward_mask(W, base.keep_mask(), 2, 4)
    torch.testing.assert_close(x.grad, upstream @ W_b + (upstream @ R.T) @ L.T, rtol=1e-4, atol=1e-5)
    assert kernels.mask_density(slope.backward_mask()) < 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the 2:4 semi-structured kernels need CUDA")
def test_cuda_semi_structured_path_matches_the_dense_gemm():
    torch.manual_seed(0)
    layer = kernels.SLoPeLinear.from_linear(torch.nn.Linear(256, 256)).cuda().half()
    x = torch.randn(64, 256, device="cuda", dtype=torch.float16, requires_grad=True)
    y = layer(x)
    y.float().sum().backward()
    W = layer.weight.detach().float()
    ref = F.linear(x.detach().float(), W * layer.forward_mask, layer.bias.detach().float())
    torch.testing.assert_close(y.float(), ref, rtol=2e-2, atol=2e-2)
    grad = torch.ones(64, 256, device="cuda") @ (W * layer.backward_mask())
    torch.testing.assert_close(x.grad.float(), grad, rtol=2e-2, atol=2e-2)
