"""MKOR: a second-order optimizer with rank-1 updates of inverse Kronecker factors.

MKOR (Mozaffari et al., NeurIPS 2023) approximates each Linear layer's curvature by a Kronecker
product of an input-activation factor and an output-gradient factor, like K-FAC, but it never
inverts a matrix: it keeps the *inverse* factors and folds in one rank-1 term per refresh with
the Sherman–Morrison formula, O(d²) instead of O(d³). The rank-1 vectors are the batch means of
the layer's (bias-augmented) inputs and of its output gradients.

Every ``inv_freq`` steps, for each factor P (inverse of the covariance estimate) and vector v:

    B = blend·P + (1 − blend)·I          # pull the inverse towards I (damping)
    P ← B − (B v vᵀ B) / (1 + vᵀ B v)    # = (B⁻¹ + v vᵀ)⁻¹, Sherman–Morrison

The first refresh sets P = I, and a factor whose largest entry exceeds ``reset_threshold`` after
an update is reset to I at the next refresh (with its partner), as in the reference code
(github.com/Mohammad-Mozaffari/mkor, PyPI ``mkor`` 0.1.2), which this module follows so the
two produce the same trajectories. The weight gradient, with the bias as an extra input column,
is preconditioned as ``R⁻¹ [G | g_b] A⁻¹`` (R: d_out × d_out, A: (d_in+1) × (d_in+1)),
rescaled so its norm equals the raw gradient's, and handed to an inner SGD or AdamW, which
also updates every parameter that is not in a preconditioned Linear.

Low-rank adapters (a module with trainable ``lora_L`` (d_in × r) and ``lora_R`` (r × d_out)
computing y += (x·L)·R, e.g. ``CompressedLinear``) are two Linear maps in a row, W₁ = Lᵀ on x
and W₂ = Rᵀ on h = x·L, and each gets its own factors: from the module's input x and output
gradient G, the rank-1 vectors are mean(x), mean(G·Rᵀ) for L and mean(x·L), mean(G) for R.
``step_macs()`` is the per-step arithmetic this adds (the preconditioning products and the
amortised Sherman–Morrison refreshes), what an energy model charges for it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["MKOR", "sherman_morrison_update"]

_INNER = ("sgd", "adamw")


def sherman_morrison_update(inv: torch.Tensor, v: torch.Tensor, blend: float = 0.95) -> torch.Tensor:
    """Return ``(B⁻¹ + v vᵀ)⁻¹`` with ``B = blend·inv + (1 − blend)·I``, without inverting."""
    b = blend * inv + (1.0 - blend) * torch.eye(inv.shape[0], dtype=inv.dtype, device=inv.device)
    v = v.reshape(-1, 1).to(inv.dtype)
    bv = b @ v
    vb = v.t() @ b
    return b - (bv @ vb) / (1.0 + vb @ v)


class _LayerStats:
    """Rank-1 statistics of one preconditioned matrix collected by hooks during a refresh step."""

    __slots__ = ("a_sum", "a_rows", "g_sum")

    def __init__(self) -> None:
        self.a_sum: torch.Tensor | None = None  # sum of clamped, bias-augmented input rows
        self.a_rows = 0
        self.g_sum: torch.Tensor | None = None  # sum of clamped, row-count-scaled output grads

    def clear(self) -> None:
        self.a_sum, self.a_rows, self.g_sum = None, 0, None

    def add_input(self, a: torch.Tensor, with_bias: bool, clip: float) -> None:
        a = a.detach().reshape(-1, a.shape[-1]).float()
        rows = a.shape[0]
        if with_bias:
            a = torch.cat([a, a.new_ones(rows, 1)], dim=1)
        a = a.clamp(-clip, clip).sum(0)
        self.a_sum = a if self.a_sum is None else self.a_sum + a
        self.a_rows += rows

    def add_grad(self, grad: torch.Tensor, clip: float) -> None:
        g = grad.detach().reshape(-1, grad.shape[-1]).float()
        # Scale by the row count: a mean-reduced loss gives per-row gradients of order 1/n.
        g = (g * g.shape[0]).clamp(-clip, clip).mean(0)
        self.g_sum = g if self.g_sum is None else self.g_sum + g


class _Target:
    """One preconditioned matrix W (d_out × d_in, y = x·Wᵀ) stored as ``param`` (W, or Wᵀ when
    ``transposed``: an adapter factor), with an optional bias as an extra input column."""

    __slots__ = ("param", "bias", "transposed", "d_in", "d_out", "stats")

    def __init__(self, param: nn.Parameter, bias: nn.Parameter | None, transposed: bool) -> None:
        self.param, self.bias, self.transposed = param, bias, transposed
        self.d_out, self.d_in = (param.shape[1], param.shape[0]) if transposed else tuple(param.shape)
        self.stats = _LayerStats()


def _is_adapter(module: nn.Module) -> bool:
    L, R = getattr(module, "lora_L", None), getattr(module, "lora_R", None)
    return (isinstance(L, nn.Parameter) and isinstance(R, nn.Parameter) and L.requires_grad and R.requires_grad
            and L.dim() == 2 and R.dim() == 2 and L.shape[1] == R.shape[0])


class _ForwardHook:
    """Forwards to the optimizer through a weak reference: a deep-copied model does not drag
    the optimizer along, and the copy's layers (unknown to it) are ignored."""

    def __init__(self, optimizer: MKOR) -> None:
        self._ref = weakref.ref(optimizer)

    def __call__(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        optimizer = self._ref()
        if optimizer is not None:
            optimizer._forward_hook(module, inputs, output)


class MKOR(torch.optim.Optimizer):
    """MKOR optimizer over all parameters of ``model``.

    Forward hooks on the preconditioned ``nn.Linear`` modules record the mean activation and the
    output gradient on refresh steps (every ``inv_freq`` steps), so call ``step()`` once per
    forward/backward pass. Parameters outside those modules get the plain inner update.

    Args:
        model: the module to optimize; all of its parameters go to the inner optimizer.
        lr: learning rate of the inner optimizer (``param_groups[i]["lr"]``, so LR schedulers work).
        inner: ``"sgd"`` (with ``momentum``) or ``"adamw"`` (with ``betas``, ``eps``).
        momentum: SGD momentum.
        weight_decay: inner optimizer's weight decay (decoupled for AdamW).
        betas: AdamW's moment decay constants.
        eps: AdamW's denominator constant.
        inv_freq: refresh the inverse factors every this many steps.
        blend: weight of the old inverse factor in the blend with the identity.
        reset_threshold: reset a layer's factors to I when an entry grows beyond this.
        clip_value: clamp activations and scaled output gradients to ±this before averaging.
        modules: the Linear modules to precondition; default every ``nn.Linear`` with a
            trainable weight in ``model`` and every module with trainable ``lora_L``/``lora_R``.
    """

    def __init__(
        self,
        model: nn.Module,
        lr: float = 0.01,
        *,
        inner: str = "sgd",
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        inv_freq: int = 10,
        blend: float = 0.95,
        reset_threshold: float = 2.0,
        clip_value: float = 100.0,
        modules: Iterable[nn.Linear] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model={type(model).__name__} is not an nn.Module (MKOR needs its Linear layers)")
        if not lr > 0:
            raise ValueError(f"lr={lr} must be > 0")
        if inner not in _INNER:
            raise ValueError(f"inner={inner!r} must be one of {_INNER}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum={momentum} must be in [0, 1)")
        if weight_decay < 0:
            raise ValueError(f"weight_decay={weight_decay} must be >= 0")
        if not (isinstance(inv_freq, int) and inv_freq >= 1):
            raise ValueError(f"inv_freq={inv_freq} must be an integer >= 1")
        if not 0 < blend <= 1:
            raise ValueError(f"blend={blend} must be in (0, 1]")
        if not reset_threshold > 0:
            raise ValueError(f"reset_threshold={reset_threshold} must be > 0")
        if not clip_value > 0:
            raise ValueError(f"clip_value={clip_value} must be > 0")

        params = list(model.parameters())
        if inner == "sgd":
            self._inner: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=lr, momentum=momentum, weight_decay=weight_decay
            )
        else:
            self._inner = torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, dict(self._inner.defaults))
        # One set of groups: an LR scheduler on MKOR drives the inner optimizer.
        self.param_groups = self._inner.param_groups

        if modules is None:
            layers = [m for m in model.modules() if _is_adapter(m)
                      or (isinstance(m, nn.Linear) and m.weight.requires_grad)]
        else:
            layers = list(modules)
            bad = next((type(m).__name__ for m in layers if not (isinstance(m, nn.Linear) or _is_adapter(m))), None)
            if bad is not None:
                raise ValueError(f"modules contains {bad}; only nn.Linear modules and modules with "
                                 "trainable lora_L/lora_R adapters can be preconditioned")
        # A module's targets: its Linear weight (+ bias), or its two adapter factors.
        self._targets: dict[nn.Module, list[_Target]] = {}
        for m in layers:
            if _is_adapter(m):
                self._targets[m] = [_Target(m.lora_L, None, True), _Target(m.lora_R, None, True)]
            else:
                self._targets[m] = [_Target(m.weight, m.bias, False)]
        params = [t.param for ts in self._targets.values() for t in ts]
        if len({id(p) for p in params}) != len(params):
            raise ValueError("modules lists one Linear weight twice; pass each layer once")
        self.inv_freq = inv_freq
        self.blend = blend
        self.reset_threshold = reset_threshold
        self.clip_value = clip_value
        self._steps = 0
        self._handles = [m.register_forward_hook(_ForwardHook(self)) for m in self._targets]

    # ----------------------------------------------------------------- statistics (hooks)
    def _refreshing(self) -> bool:
        return self._steps % self.inv_freq == 0

    def _forward_hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        targets = self._targets.get(module)
        if targets is None or not (torch.is_grad_enabled() and self._refreshing() and output.requires_grad):
            return
        clip = self.clip_value
        x = inputs[0]
        if len(targets) == 1:  # nn.Linear
            stats = targets[0].stats
            stats.add_input(x, module.bias is not None, clip)
            output.register_hook(lambda grad: stats.add_grad(grad, clip))
            return
        (down, up), L, R = targets, module.lora_L, module.lora_R
        down.stats.add_input(x, False, clip)
        with torch.no_grad():
            up.stats.add_input(x.to(L.dtype) @ L, False, clip)  # h = x·L, the input of W₂ = Rᵀ

        def grads(grad: torch.Tensor) -> None:
            up.stats.add_grad(grad, clip)
            down.stats.add_grad(grad.to(R.dtype) @ R.detach().T, clip)  # ∂loss/∂h = G·Rᵀ

        output.register_hook(grads)

    # ----------------------------------------------------------------- factors
    def _refresh(self, target: _Target) -> None:
        stats = target.stats
        if stats.a_sum is None or stats.g_sum is None:
            stats.clear()  # no backward reached this layer: nothing to fold in
            return
        state = self.state[target.param]
        vectors = {"left": stats.g_sum, "right": stats.a_sum / stats.a_rows}
        stats.clear()
        # Right (activation) factor first, then left, as the reference does.
        for side in ("right", "left"):
            v = vectors[side]
            if state.get(f"{side}_reset", True):
                state[f"{side}_inv"] = torch.eye(v.numel(), dtype=torch.float32, device=v.device)
                state[f"{side}_reset"] = False
                continue
            inv = sherman_morrison_update(state[f"{side}_inv"], v, self.blend)
            state[f"{side}_inv"] = inv
            if inv.abs().max() > self.reset_threshold:
                state["left_reset"] = state["right_reset"] = True

    def _precondition(self, target: _Target) -> None:
        w, bias = target.param, target.bias
        state = self.state.get(w)
        if w.grad is None or not state or "left_inv" not in state or "right_inv" not in state:
            return
        has_bias = bias is not None and bias.grad is not None
        raw = w.grad.T if target.transposed else w.grad  # as W (d_out × d_in)
        grad = raw.float()
        if has_bias:
            grad = torch.cat([grad, bias.grad.float().reshape(-1, 1)], dim=1)
        elif state["right_inv"].shape[0] != target.d_in:
            return  # factor carries a bias column but the bias got no gradient this step
        update = state["left_inv"] @ grad @ state["right_inv"]
        uw, ub = (update[:, :-1], update[:, -1]) if has_bias else (update, None)
        # The reference rescales by the *sum* of weight and bias norms; kept for equal trajectories.
        grad_norm = w.grad.norm() + (bias.grad.norm() if has_bias else 0.0)
        update_norm = uw.norm() + (ub.norm() if has_bias else 0.0)
        scale = grad_norm / update_norm
        if not torch.isfinite(scale):
            return  # zero gradient or a degenerate update: leave the raw gradient
        w.grad.copy_((uw.T if target.transposed else uw) * scale)
        if has_bias:
            bias.grad.copy_(ub.reshape(bias.grad.shape) * scale)

    def step_macs(self) -> float:
        """Multiply-accumulates one ``step()`` adds to the inner update: R⁻¹·G·A⁻¹ per matrix
        (d_out²·d_in' + d_out·d_in'², d_in' = d_in + bias) plus, every ``inv_freq`` steps, one
        Sherman–Morrison refresh per factor (blend, B·v, vᵀ·B and the rank-1 update: ~4·d²)."""
        total = 0.0
        for targets in self._targets.values():
            for t in targets:
                d_in, d_out = t.d_in + (t.bias is not None), t.d_out
                total += d_out * d_out * d_in + d_out * d_in * d_in
                total += 4.0 * (d_in * d_in + d_out * d_out) / self.inv_freq
        return total

    def factor_entries(self) -> int:
        """Entries of all inverse factors (the optimizer's extra state)."""
        return sum((t.d_in + (t.bias is not None)) ** 2 + t.d_out ** 2 for ts in self._targets.values() for t in ts)

    # ----------------------------------------------------------------- optimizer API
    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch.optim.Optimizer.step
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        targets = [t for ts in self._targets.values() for t in ts]
        if self._refreshing():
            for target in targets:
                self._refresh(target)
        for target in targets:
            self._precondition(target)
        self._inner.step()
        self._steps += 1
        return loss

    def remove_hooks(self) -> None:
        """Detach the forward hooks (the model stays usable with any other optimizer)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def state_dict(self) -> dict:
        """Factor state, step count and the inner optimizer's state."""
        return {"mkor": super().state_dict(), "inner": self._inner.state_dict(), "steps": self._steps}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict`` returned (same model, same ``modules``)."""
        if set(state_dict) != {"mkor", "inner", "steps"}:
            raise ValueError(f"state_dict keys={sorted(state_dict)}; expected ['inner', 'mkor', 'steps'] from MKOR")
        super().load_state_dict(state_dict["mkor"])
        self._inner.load_state_dict(state_dict["inner"])
        self.param_groups = self._inner.param_groups
        self._steps = int(state_dict["steps"])
