"""MKOR: Sherman–Morrison algebra, a dense reference, the PyPI oracle when installed, convergence."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from fedsim_kernels.mkor import MKOR, sherman_morrison_update



def _mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8, bias=False), nn.Tanh(), nn.Linear(8, 3))


def _data(steps: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # (steps, batch, tokens, features): 3-D inputs exercise the token flattening; an offset
    # gives the activations a mean direction for the rank-1 updates to see.
    x = torch.randn(steps, 4, 5, 6, generator=g) * 0.7 + 0.4
    y = torch.randn(steps, 4, 5, 3, generator=g)
    return x, y


def _train(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    losses = []
    for xs, ys in zip(x, y):
        opt.zero_grad()
        loss = ((model(xs) - ys) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


# ----------------------------------------------------------------------------- dense reference
def _dense_reference(
    model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, *, lr: float, momentum: float,
    inv_freq: int, blend: float, reset_threshold: float, clip: float = 100.0,
) -> int:
    """Slow MKOR in float64 with explicit inverses; trains ``model`` in place, returns #resets.

    Keeps each factor in covariance form C = P⁻¹ and refreshes it as
    C ← (blend·C⁻¹ + (1 − blend)·I)⁻¹ + v vᵀ, then P = C⁻¹ — no Sherman–Morrison anywhere.
    """
    model = model.double()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    cov = {id(m): {"left": None, "right": None} for m in linears}
    reset = {id(m): {"left": True, "right": True} for m in linears}
    buf: dict[int, torch.Tensor] = {}
    n_resets = 0
    for step, (xs, ys) in enumerate(zip(x.double(), y.double())):
        inputs, outputs = {}, {}
        h = xs
        for m in model:
            if isinstance(m, nn.Linear):
                inputs[id(m)] = h.detach()
                h = m(h)
                h.retain_grad()
                outputs[id(m)] = h
            else:
                h = m(h)
        model.zero_grad()
        ((h - ys) ** 2).mean().backward()
        with torch.no_grad():
            for m in linears:
                a = inputs[id(m)].reshape(-1, m.in_features)
                if m.bias is not None:
                    a = torch.cat([a, torch.ones(a.shape[0], 1, dtype=a.dtype)], 1)
                g = outputs[id(m)].grad.reshape(-1, m.out_features)
                vecs = {"right": a.clamp(-clip, clip).mean(0), "left": (g * g.shape[0]).clamp(-clip, clip).mean(0)}
                if step % inv_freq == 0:
                    for side in ("right", "left"):
                        v = vecs[side].reshape(-1, 1)
                        eye = torch.eye(v.shape[0], dtype=torch.float64)
                        if reset[id(m)][side]:
                            cov[id(m)][side] = eye.clone()
                            reset[id(m)][side] = False
                            continue
                        blended = blend * torch.linalg.inv(cov[id(m)][side]) + (1 - blend) * eye
                        cov[id(m)][side] = torch.linalg.inv(blended) + v @ v.t()
                        if torch.linalg.inv(cov[id(m)][side]).abs().max() > reset_threshold:
                            reset[id(m)]["left"] = reset[id(m)]["right"] = True
                            n_resets += 1
                grad = m.weight.grad
                if m.bias is not None:
                    grad = torch.cat([grad, m.bias.grad.reshape(-1, 1)], 1)
                upd = torch.linalg.inv(cov[id(m)]["left"]) @ grad @ torch.linalg.inv(cov[id(m)]["right"])
                uw, ub = (upd[:, :-1], upd[:, -1]) if m.bias is not None else (upd, None)
                gnorm = m.weight.grad.norm() + (m.bias.grad.norm() if ub is not None else 0)
                unorm = uw.norm() + (ub.norm() if ub is not None else 0)
                m.weight.grad.copy_(uw * gnorm / unorm)
                if ub is not None:
                    m.bias.grad.copy_(ub * gnorm / unorm)
            for p in model.parameters():
                b = buf.get(id(p))
                buf[id(p)] = p.grad.clone() if b is None else momentum * b + p.grad
                p -= lr * buf[id(p)]
    return n_resets


def test_sherman_morrison_matches_explicit_inverse():
    g = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(7, 7, generator=g, dtype=torch.float64)).Q
    inv = q @ torch.diag(torch.rand(7, generator=g, dtype=torch.float64) * 0.9 + 0.1) @ q.t()
    v = torch.randn(7, generator=g, dtype=torch.float64)
    blended = 0.95 * inv + 0.05 * torch.eye(7, dtype=torch.float64)
    expected = torch.linalg.inv(torch.linalg.inv(blended) + torch.outer(v, v))
    torch.testing.assert_close(sherman_morrison_update(inv, v, 0.95), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("inv_freq", "reset_threshold"), [(2, 2.0), (1, 0.9), (3, 2.0)])
def test_trajectory_matches_dense_reference(inv_freq, reset_threshold):
    x, y = _data(24)
    mine, ref = _mlp(), _mlp()
    opt = MKOR(mine, lr=0.05, momentum=0.9, inv_freq=inv_freq, blend=0.95, reset_threshold=reset_threshold)
    _train(mine, opt, x, y)
    n_resets = _dense_reference(ref, x, y, lr=0.05, momentum=0.9, inv_freq=inv_freq, blend=0.95,
                                reset_threshold=reset_threshold)
    if reset_threshold < 1:
        assert n_resets > 0  # this case exercises the reset path
    for p, q in zip(mine.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q.float(), rtol=1e-4, atol=1e-5)


def test_trajectory_matches_pypi_mkor_oracle():
    """The reference package (PyPI ``mkor``, github.com/Mohammad-Mozaffari/mkor) when installed."""
    mkor = pytest.importorskip("mkor")
    x, y = _data(30)
    for inner, kwargs in (("sgd", dict(lr=0.05, momentum=0.9)), ("adam", dict(lr=0.01))):
        mine, ref = _mlp(), _mlp()
        ref.device = torch.device("cpu")  # the oracle reads model.device
        oracle = mkor.MKOR(ref, inv_freq=3, half_precision=False, optimizer=inner, **kwargs)
        opt = MKOR(mine, inner="sgd" if inner == "sgd" else "adamw", inv_freq=3, **kwargs)
        for xs, ys in zip(x, y):
            for model, o in ((ref, oracle), (mine, opt)):
                model.zero_grad()
                ((model(xs) - ys) ** 2).mean().backward()
                o.step()
        for p, q in zip(mine.parameters(), ref.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_first_step_is_plain_sgd():
    # Factors start at the identity, so step 0 is the inner optimizer's own step.
    x, y = _data(1)
    a, b = _mlp(), _mlp()
    _train(a, MKOR(a, lr=0.1, momentum=0.9), x, y)
    _train(b, torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9), x, y)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


def test_non_linear_parameters_get_the_plain_inner_update():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 3))
    opt = MKOR(model, lr=0.1, momentum=0.0, inv_freq=1)
    x, y = _data(6)
    x = x.reshape(6, -1, 6)
    y = y.reshape(6, -1, 3)
    _train(model, opt, x[:5], y[:5])
    ln, lin = model[1], model[3]
    opt.zero_grad()
    ((model(x[5]) - y[5]) ** 2).mean().backward()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    raw = {n: p.grad.clone() for n, p in model.named_parameters()}
    opt.step()
    for name in ("1.weight", "1.bias"):
        torch.testing.assert_close(dict(model.named_parameters())[name], before[name] - 0.1 * raw[name])
    # ... while the Linear layers were preconditioned (same norm, other direction).
    step = before["3.weight"] - lin.weight.detach()
    assert not torch.allclose(step, 0.1 * raw["3.weight"], atol=1e-6)
    assert ln.weight.grad is not None


def test_modules_argument_restricts_preconditioning():
    x, y = _data(8)
    a, b = _mlp(), _mlp()
    _train(a, MKOR(a, lr=0.05, momentum=0.9, inv_freq=1, modules=[]), x, y)
    _train(b, torch.optim.SGD(b.parameters(), lr=0.05, momentum=0.9), x, y)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    c, d = _mlp(), _mlp()
    _train(c, MKOR(c, inner="adamw", lr=0.01, weight_decay=0.01, modules=[]), x, y)
    _train(d, torch.optim.AdamW(d.parameters(), lr=0.01, weight_decay=0.01), x, y)
    for p, q in zip(c.parameters(), d.parameters()):
        torch.testing.assert_close(p, q)


def test_state_dict_round_trip_continues_identically():
    x, y = _data(12)
    a = _mlp()
    opt_a = MKOR(a, lr=0.05, inv_freq=2)
    _train(a, opt_a, x, y)

    b = _mlp()
    opt_b = MKOR(b, lr=0.05, inv_freq=2)
    _train(b, opt_b, x[:5], y[:5])
    c = copy.deepcopy(b)
    opt_c = MKOR(c, lr=0.05, inv_freq=2)
    opt_c.load_state_dict(opt_b.state_dict())
    _train(c, opt_c, x[5:], y[5:])
    for p, q in zip(a.parameters(), c.parameters()):
        torch.testing.assert_close(p, q)


def test_lr_scheduler_drives_the_inner_optimizer():
    model = _mlp()
    opt = MKOR(model, lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    x, y = _data(2)
    _train(model, opt, x[:1], y[:1])
    sched.step()
    assert opt._inner.param_groups[0]["lr"] == pytest.approx(0.05)


def test_remove_hooks_stops_statistics():
    model = _mlp()
    opt = MKOR(model, lr=0.1, inv_freq=1)
    opt.remove_hooks()
    x, y = _data(3)
    _train(model, opt, x, y)
    assert not opt.state  # no factors were ever built


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(lr=0.0), "lr=0.0"),
        (dict(inner="lamb"), "inner='lamb'"),
        (dict(momentum=1.0), "momentum=1.0"),
        (dict(inv_freq=0), "inv_freq=0"),
        (dict(blend=0.0), "blend=0.0"),
        (dict(reset_threshold=-1.0), "reset_threshold=-1.0"),
        (dict(clip_value=0.0), "clip_value=0.0"),
        (dict(modules=[nn.Tanh()]), "Tanh"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MKOR(_mlp(), **kwargs)


def test_mkor_reaches_a_loss_in_fewer_steps_than_sgd():
    # Inputs with a large common offset and uneven scales: an ill-conditioned activation
    # covariance that slows SGD and that MKOR's activation factor corrects.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 10, generator=g) * torch.logspace(0, -1, 10) + 2.0
    torch.manual_seed(42)
    teacher = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 1)).requires_grad_(False)
    y = teacher(x)
    target = 0.05 * y.var().item()

    def steps_to_target(make_opt) -> int:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 1))
        opt = make_opt(model)
        gen = torch.Generator().manual_seed(1)
        for step in range(300):
            idx = torch.randint(0, x.shape[0], (64,), generator=gen)
            opt.zero_grad()
            ((model(x[idx]) - y[idx]) ** 2).mean().backward()
            opt.step()
            with torch.no_grad():
                if ((model(x) - y) ** 2).mean().item() < target:
                    return step + 1
        return 10**6

    sgd = steps_to_target(lambda m: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9))
    mkor = steps_to_target(lambda m: MKOR(m, lr=0.01, momentum=0.9, inv_freq=10))
    assert mkor < 300
    assert mkor < 0.7 * sgd, (mkor, sgd)


# ----------------------------------------------------------------------------- low-rank adapters
class _TwoLinears(nn.Module):
    """y = base(x) + up(down(x)): the adapter written as two explicit Linear layers."""

    def __init__(self, layer, L, R) -> None:
        super().__init__()
        self.base = layer
        self.down = nn.Linear(layer.in_features, L.shape[1], bias=False)
        self.up = nn.Linear(L.shape[1], layer.out_features, bias=False)
        with torch.no_grad():
            self.down.weight.copy_(L.T)
            self.up.weight.copy_(R.T)

    def forward(self, x):
        return self.base(x) + self.up(self.down(x))


@pytest.mark.parametrize("inner", ["sgd", "adamw"])
def test_adapter_factors_are_preconditioned_as_two_linear_layers(inner):
    from fedsim_kernels import CompressedLinear

    torch.manual_seed(3)
    dense = nn.Linear(6, 3)
    g = torch.Generator().manual_seed(4)
    L, R = torch.randn(6, 2, generator=g) * 0.3, torch.randn(2, 3, generator=g) * 0.3
    adapted = CompressedLinear.from_linear(dense, bits=8, group_size=None, L=L, R=R, path="reference")
    frozen = CompressedLinear.from_linear(dense, bits=8, group_size=None, path="reference")
    explicit = _TwoLinears(frozen, L, R)
    x, y = _data(8)
    kw = dict(lr=0.05, inner=inner, inv_freq=1)
    opt_a = MKOR(adapted, **kw)
    opt_b = MKOR(explicit, **kw)
    assert len(opt_a._targets) == 1 and len(opt_b._targets) == 2  # one adapter module, two Linears
    losses_a, losses_b = _train(adapted, opt_a, x, y), _train(explicit, opt_b, x, y)
    assert losses_a == pytest.approx(losses_b, rel=1e-5)
    torch.testing.assert_close(adapted.lora_L.detach(), explicit.down.weight.detach().T, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(adapted.lora_R.detach(), explicit.up.weight.detach().T, rtol=1e-5, atol=1e-6)
    sgd = CompressedLinear.from_linear(dense, bits=8, group_size=None, L=L, R=R, path="reference")
    _train(sgd, torch.optim.SGD(sgd.parameters(), lr=0.05, momentum=0.9) if inner == "sgd" else
           torch.optim.AdamW(sgd.parameters(), lr=0.05), x, y)
    assert not torch.allclose(sgd.lora_L, adapted.lora_L, atol=1e-4)  # preconditioning changed the path
    # The per-step cost: R⁻¹·G·A⁻¹ for both factors plus the refreshes (inv_freq=1).
    expected = (2 * 2 * 6 + 2 * 6 * 6 + 4 * (36 + 4)) + (3 * 3 * 2 + 3 * 2 * 2 + 4 * (4 + 9))
    assert opt_a.step_macs() == expected == opt_b.step_macs()
    assert opt_a.factor_entries() == 36 + 4 + 4 + 9
