"""SLoPe (Mozaffari et al., arXiv 2405.16325): double-pruned sparse pretraining plus lazy low-rank adapters.

A linear layer y = x·Wᵀ + b trained with a static N:M mask M_f along the input dimension (chosen
once, from |W| when the layer is sparsified, i.e. at initialization, as the authors' ``prune_model``
does):

- forward:          y = x·(W ⊙ M_f)ᵀ + b                      (an N:M GEMM)
- input gradient:   ∂x = ∂y·(W ⊙ M_b)                          (the *double-pruned* transpose)
- weight gradient:  ∂W = (∂yᵀ·x) ⊙ M_f                         (dense GEMM, then masked)

M_b ⊆ M_f is M_f pruned again with N:M along the output dimension (the column pass of
``masks.double_pruned_mask`` over the kept entries, by |W|), so the transposed operand of the
input-gradient GEMM is N:M along its reduction dimension and a sparse kernel can run it too. Its
expected density on random data is 26/64 ≈ 0.406 for 2:4 (the paper's theorem). The weight
gradient is computed densely and masked by M_f, exactly as the authors' ``SLoPeMatmul`` does
(``prune_and_compress(grad, mask)``), so pruned weights stay zero under AdamW. The authors
recompute the column pattern every ``mask_change_freq`` (100) optimizer steps and reuse it in
between; here M_b is recomputed from the current weights at every training forward (a top-k per
group: negligible at CPU scale), i.e. always the exact double-pruned transpose.

Lazy low-rank adapters: in the last ``adapter_fraction`` of the iterations (default 1%) every
sparse layer gains y += (x·L)·R / r with L ~ N(0, 1) (d_in × r) and R = 0 (r × d_out), as in the
authors' code; the sparse weights keep training beside them.

Kernels: on CPU no PyTorch kernel exploits N:M sparsity, so the GEMMs are dense with the masks
applied (the same numbers, not the speed). On CUDA, with 2:4 and float16/bfloat16 operands,
``torch.sparse.to_sparse_semi_structured`` is tried for the forward and the input-gradient GEMM
(guarded: any failure falls back to the dense GEMM; never required). ``linear_macs`` and
``adapter_macs`` count what each GEMM costs with N:M kernels.

``DoublePrunedCompressedLinear`` gives a frozen compressed base (``CompressedLinear``) the
double-pruned input gradient, for fine-tuning adapters over an N:M base (fedsim's
``lm.backward=double_pruned``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .masks import nm_mask
from .modules import CompressedLinear
from .recipe import BACKWARDS, RecipeError, check_slope, parse_nm
from .tinylm import TinyLM, TinyLMConfig, _as_ids, perplexity

__all__ = [
    "SLoPeLinear",
    "DoublePrunedCompressedLinear",
    "StepMACs",
    "SLoPeRun",
    "SLoPeTrainer",
    "adapter_macs",
    "add_lazy_adapters",
    "double_pruned_backward_mask",
    "export_linears",
    "lazy_adapter_start",
    "linear_macs",
    "slope_linear",
    "sparsify_linears",
    "train_slope_lm",
    "use_double_pruned_backward",
]


# ----------------------------------------------------------------------------- masks
def double_pruned_backward_mask(weight: Tensor, forward_mask: Tensor, n: int, m: int) -> Tensor:
    """M_b: the kept entries of ``forward_mask`` pruned again to N:M along the output dimension
    (each group of ``m`` consecutive rows of a column keeps its ``n`` largest |W|). A subset of
    ``forward_mask`` by construction; needs d_out % m == 0."""
    d_out = weight.shape[0]
    if d_out % m:
        raise ValueError(f"d_out={d_out} is not divisible by m={m}; the double-pruned (column) pass needs whole groups")
    score = torch.where(forward_mask, weight.detach().abs(), torch.full_like(weight, -math.inf, dtype=weight.dtype))
    return forward_mask & nm_mask(score.T.contiguous(), n, m).T


# ----------------------------------------------------------------------------- the GEMMs
def _semi_structured(w: Tensor) -> Any:
    """``w`` as a CUDA 2:4 semi-structured tensor, or None where that is unavailable."""
    if not (w.is_cuda and w.dtype in (torch.float16, torch.bfloat16)):
        return None
    try:
        from torch.sparse import to_sparse_semi_structured

        return to_sparse_semi_structured(w.contiguous())
    except Exception:  # noqa: BLE001 - a GPU, dtype or shape the prototype API refuses: the dense GEMM instead
        return None


def _gemm(a: Tensor, w: Tensor, bias: Tensor | None, semi: bool) -> Tensor:
    """a·wᵀ (+ bias) for 2-D ``a``; through a 2:4 sparse kernel when ``semi`` and one is available."""
    sparse = _semi_structured(w) if semi else None
    if sparse is not None:
        try:
            return F.linear(a, sparse, bias)
        except Exception:  # noqa: BLE001 - a shape the kernel refuses: the dense GEMM gives the same numbers
            pass
    return F.linear(a, w, bias)


class _SLoPeMatmul(torch.autograd.Function):
    """Forward with W ⊙ M_f, input gradient with W ⊙ M_b, weight gradient masked by M_f."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, forward_mask: Tensor | None,
                backward_mask: Tensor | None, semi: bool) -> Tensor:
        w = weight if forward_mask is None else weight * forward_mask
        ctx.save_for_backward(x, weight, forward_mask, backward_mask)
        ctx.semi, ctx.has_bias = semi, bias is not None
        x2 = x.reshape(-1, x.shape[-1])
        return _gemm(x2, w, bias, semi).view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple:
        x, weight, forward_mask, backward_mask = ctx.saved_tensors
        g = grad_out.reshape(-1, grad_out.shape[-1])
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            mask = backward_mask if backward_mask is not None else forward_mask
            w_b = weight if mask is None else weight * mask
            # g·W_b; only the double-pruned W_bᵀ is N:M along its rows (d_out), so only it may take the 2:4 kernel
            grad_x = _gemm(g, w_b.T, None, ctx.semi and backward_mask is not None).view(x.shape)
        if ctx.needs_input_grad[1]:
            grad_w = g.T @ x.reshape(-1, x.shape[-1])
            if forward_mask is not None:
                grad_w = grad_w * forward_mask
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g.sum(0)
        return grad_x, grad_w, grad_b, None, None, None


def slope_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, forward_mask: Tensor | None = None,
                 backward_mask: Tensor | None = None, *, semi: bool = False) -> Tensor:
    """y = x·(W ⊙ M_f)ᵀ + b whose input gradient multiplies by W ⊙ M_b (M_f when ``backward_mask``
    is None: the exact gradient) and whose weight gradient is masked by M_f (unmasked when
    ``forward_mask`` is None, i.e. ``weight`` is already pruned). ``semi``: the forward operand is
    2:4 (and so is the double-pruned one): try the CUDA 2:4 kernels, which do not check the pattern."""
    return _SLoPeMatmul.apply(x, weight, bias, forward_mask, backward_mask, semi)


# ----------------------------------------------------------------------------- the layer
class SLoPeLinear(nn.Module):
    """A linear layer pretrained with a static N:M mask (``forward_mask``) and, with
    ``backward="double_pruned"``, the double-pruned input gradient; optional lazy adapters.

    ``weight`` is stored dense with zeros where pruned (the masked gradient keeps them zero).
    Build one with ``from_linear``; ``add_adapters(rank)`` attaches L (d_in × r) and R (r × d_out).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, n: int = 2, m: int = 4,
                 backward: str = "double_pruned") -> None:
        super().__init__()
        (n, m), _, _, backward = check_slope(nm=(n, m), backward=backward)
        if in_features % m:
            raise ValueError(f"in_features={in_features} is not divisible by m={m}; N:M groups need whole groups")
        if backward == "double_pruned" and out_features % m:
            raise ValueError(f"out_features={out_features} is not divisible by m={m}; the double-pruned backward "
                             "needs whole groups along the output dimension")
        self.in_features, self.out_features, self.n, self.m, self.backward = in_features, out_features, n, m, backward
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.register_buffer("forward_mask", nm_mask(torch.ones(out_features, in_features), n, m))
        self.register_parameter("lora_L", None)
        self.register_parameter("lora_R", None)

    @classmethod
    def from_linear(cls, linear: nn.Linear, *, n: int = 2, m: int = 4, backward: str = "double_pruned") -> SLoPeLinear:
        """The static N:M mask of ``linear``'s current weights (magnitude), applied once."""
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, n=n, m=m, backward=backward)
        with torch.no_grad():
            W = linear.weight.detach()
            layer.forward_mask.copy_(nm_mask(W.abs(), layer.n, layer.m))
            layer.weight.copy_(W * layer.forward_mask)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias.detach())
        return layer.to(linear.weight.device)

    @property
    def rank(self) -> int:
        return 0 if self.lora_L is None else self.lora_L.shape[1]

    def backward_mask(self) -> Tensor:
        """The mask of the input-gradient GEMM: M_b (double-pruned) or M_f."""
        if self.backward == "double_pruned":
            with torch.no_grad():
                return double_pruned_backward_mask(self.weight, self.forward_mask, self.n, self.m)
        return self.forward_mask

    def add_adapters(self, rank: int, generator: torch.Generator | None = None) -> list[nn.Parameter]:
        """Attach L ~ N(0, 1) and R = 0 (the layer's output is unchanged until R learns)."""
        check_slope(rank=rank)
        if rank > min(self.in_features, self.out_features):
            raise RecipeError("rank", rank, f"an int in [1, {min(self.in_features, self.out_features)}]")
        if self.lora_L is not None:
            raise ValueError("this layer already has adapters")
        device = self.weight.device
        L = torch.randn(self.in_features, rank, generator=generator).to(device=device, dtype=self.weight.dtype)
        self.lora_L = nn.Parameter(L)
        self.lora_R = nn.Parameter(torch.zeros(rank, self.out_features, device=device, dtype=self.weight.dtype))
        return [self.lora_L, self.lora_R]

    def masked_weight(self) -> Tensor:
        return self.weight * self.forward_mask

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x.shape[-1]={x.shape[-1]} does not match in_features={self.in_features}")
        semi = (self.n, self.m) == (2, 4)
        if torch.is_grad_enabled():
            y = slope_linear(x, self.weight, self.bias, self.forward_mask,
                             self.backward_mask() if self.backward == "double_pruned" else None, semi=semi)
        else:
            y = _gemm(x.reshape(-1, self.in_features), self.masked_weight(), self.bias, semi).view(*x.shape[:-1], self.out_features)
        if self.lora_L is not None:
            y = y + ((x @ self.lora_L) / self.rank) @ self.lora_R  # (x·L)·R / r, scaled on the narrow side
        return y

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, nm={self.n}:{self.m}, "
                f"backward={self.backward!r}, rank={self.rank}, bias={self.bias is not None}")


def _block_linears(model: nn.Module, kind: type) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of the ``kind`` layers inside the model's repeated blocks (the
    layers ``compress_model`` compresses: embeddings and the head stay dense)."""
    from .pipeline import find_blocks

    prefix, blocks = find_blocks(model)
    names = {id(b): f"{prefix}.{i}" if prefix else "" for i, b in enumerate(blocks)}
    out = []
    for block in blocks:
        for name, module in block.named_modules():
            if isinstance(module, kind):
                out.append((".".join(p for p in (names[id(block)], name) if p), module))
    return out


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def sparsify_linears(model: nn.Module, n: int = 2, m: int = 4, backward: str = "double_pruned") -> list[str]:
    """Replace every ``nn.Linear`` of the model's blocks by a ``SLoPeLinear`` (static N:M mask of
    its current weights); returns their names."""
    check_slope(nm=(n, m), backward=backward)
    layers = _block_linears(model, nn.Linear)
    for name, linear in layers:
        _replace(model, name, SLoPeLinear.from_linear(linear, n=n, m=m, backward=backward))
    return [name for name, _ in layers]


def add_lazy_adapters(model: nn.Module, rank: int, generator: torch.Generator | None = None) -> list[nn.Parameter]:
    """Attach rank-``rank`` adapters to every ``SLoPeLinear``; returns the new parameters."""
    check_slope(rank=rank)
    params: list[nn.Parameter] = []
    for module in model.modules():
        if isinstance(module, SLoPeLinear):
            params += module.add_adapters(rank, generator)
    if not params:
        raise ValueError("the model has no SLoPeLinear layers; call sparsify_linears first")
    return params


def export_linears(model: nn.Module) -> nn.Module:
    """Replace every adapter-free ``SLoPeLinear`` by an ``nn.Linear`` holding W ⊙ M_f (a plain
    TinyLM state dict again, e.g. for ``save_pretrained`` or ``compress_model``)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, SLoPeLinear):
            if module.rank:
                raise ValueError(f"layer {name} has adapters; only a layer without adapters exports to nn.Linear")
            linear = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
            with torch.no_grad():
                linear.weight.copy_(module.masked_weight())
                if module.bias is not None:
                    linear.bias.copy_(module.bias)
            _replace(model, name, linear.to(module.weight.device))
    return model


# ----------------------------------------------------------------------------- schedule and training
def lazy_adapter_start(total_steps: int, adapter_fraction: float) -> int:
    """The step at which adapters join: the last ``ceil(adapter_fraction·total_steps)`` steps
    (at least one) train them; ``adapter_fraction=1`` adds them before the first step."""
    _, fraction, _, _ = check_slope(adapter_fraction=adapter_fraction)
    if not (isinstance(total_steps, int) and total_steps >= 1):
        raise ValueError(f"total_steps={total_steps!r} must be an integer >= 1")
    return total_steps - max(1, math.ceil(fraction * total_steps - 1e-9))


@dataclass
class SLoPeRun:
    """What a pretraining run measured: validation perplexity after the listed steps, the mean
    training loss of the steps before each, and the step adapters joined at (None: never)."""

    eval_steps: list[int] = field(default_factory=list)
    perplexity: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    adapter_start: int | None = None


class SLoPeTrainer:
    """Pretrain a fresh ``TinyLM`` with SLoPe, step by step; ``nm=None`` trains it dense (the baseline).

    The same recipe and random streams as ``train_tiny_lm`` (initialization from ``seed``, windows
    from ``seed + 1``, AdamW β = (0.9, 0.95), 5% warmup, cosine to 10% of ``lr``, clipping): runs
    that differ only in ``nm``/``backward``/adapters start from the same weights and see the same
    windows (dense: bit-identical to ``train_tiny_lm``). The blocks' linears become ``SLoPeLinear``
    (static N:M masks of the initial weights). ``add_adapters`` attaches lazy adapters (initialized
    from ``seed + 2``) from the current step on; ``fork`` copies the whole run, so arms sharing a
    prefix (SLoPe is the double-pruned run until its adapters join) train it once. With
    ``eval_text`` the validation perplexity is measured every ``eval_every`` steps and after the last.
    """

    def __init__(self, config: TinyLMConfig, text: str | Tensor, steps: int = 1000, batch: int = 32, lr: float = 3e-3,
                 seed: int = 0, *, nm: tuple[int, int] | str | None = (2, 4), backward: str = "double_pruned",
                 eval_text: str | Tensor | None = None, eval_every: int | None = None, warmup: int | None = None,
                 weight_decay: float = 0.01, grad_clip: float = 1.0) -> None:
        for name, v in (("steps", steps), ("batch", batch)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"{name}={v!r} must be an integer >= 1")
        if not lr > 0:
            raise ValueError(f"lr={lr} must be > 0")
        if nm is not None:
            nm, _, _, backward = check_slope(nm=nm, backward=backward)
        self.ids = _as_ids(text, config.vocab_size)
        if self.ids.numel() < config.context + 1:
            raise ValueError(f"text has {self.ids.numel()} tokens; training needs at least context+1={config.context + 1}")
        warmup = max(1, steps // 20) if warmup is None else warmup
        if not (isinstance(warmup, int) and 0 <= warmup <= steps):
            raise ValueError(f"warmup={warmup!r} must be an integer in [0, steps={steps}]")
        if eval_every is not None and not (isinstance(eval_every, int) and eval_every >= 1):
            raise ValueError(f"eval_every={eval_every!r} must be an integer >= 1 or None")
        self.config, self.steps, self.batch, self.lr, self.warmup = config, steps, batch, lr, warmup
        self.weight_decay, self.grad_clip, self.nm = weight_decay, grad_clip, nm
        self.eval_text, self.eval_every = eval_text, eval_every
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = TinyLM(config)
        if nm is not None:
            sparsify_linears(self.model, *nm, backward=backward)
        self._windows = torch.Generator().manual_seed(seed + 1)
        self._adapter_init = torch.Generator().manual_seed(seed + 2)
        params = list(self.model.parameters())
        self.opt = torch.optim.AdamW(
            [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
            lr=lr, betas=(0.9, 0.95),
        )
        self.step = 0
        self.record = SLoPeRun()
        self._span = (0.0, 0)  # training loss summed over the steps since the last evaluation, and their count

    def add_adapters(self, rank: int) -> None:
        """Lazy adapters on every sparse layer from the next step on (trained with the same AdamW)."""
        if self.nm is None:
            raise ValueError("adapters ride on the sparse layers; this run is dense (nm=None)")
        params = add_lazy_adapters(self.model, rank, self._adapter_init)
        self.opt.add_param_group({"params": params, "weight_decay": self.weight_decay})
        self.record.adapter_start = self.step

    def fork(self) -> SLoPeTrainer:
        """An independent copy of the run (model, optimizer state, random streams, record)."""
        twin = copy.copy(self)
        twin.model, twin.opt = copy.deepcopy((self.model, self.opt))
        twin._windows = torch.Generator().set_state(self._windows.get_state())
        twin._adapter_init = torch.Generator().set_state(self._adapter_init.get_state())
        twin.record = copy.deepcopy(self.record)
        return twin

    def run(self, until: int | None = None) -> SLoPeTrainer:
        """Train up to step ``until`` (default: the end)."""
        until = self.steps if until is None else until
        if not (isinstance(until, int) and self.step <= until <= self.steps):
            raise ValueError(f"until={until!r} must be an integer in [{self.step}, steps={self.steps}]")
        span = self.config.context + 1
        offsets = torch.arange(span)
        model, vocab = self.model, self.config.vocab_size
        model.train()
        while self.step < until:
            rate = _cosine_lr(self.step, self.steps, self.warmup, self.lr)
            for group in self.opt.param_groups:
                group["lr"] = rate
            starts = torch.randint(0, self.ids.numel() - span + 1, (self.batch,), generator=self._windows)
            chunk = self.ids[starts[:, None] + offsets]
            logits = model(chunk[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, vocab), chunk[:, 1:].reshape(-1))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
            self.opt.step()
            self.step += 1
            self._span = (self._span[0] + loss.item(), self._span[1] + 1)
            if self.eval_text is not None and (self.step == self.steps or (self.eval_every and self.step % self.eval_every == 0)):
                self.record.eval_steps.append(self.step)
                self.record.perplexity.append(perplexity(model, self.eval_text, context=self.config.context))
                self.record.train_loss.append(self._span[0] / self._span[1])
                self._span = (0.0, 0)
        model.eval()
        return self


def train_slope_lm(config: TinyLMConfig, text: str | Tensor, steps: int = 1000, batch: int = 32, lr: float = 3e-3,
                   seed: int = 0, *, adapter_fraction: float | None = None, adapter_rank: int = 8,
                   **options: Any) -> tuple[TinyLM, SLoPeRun]:
    """A whole ``SLoPeTrainer`` run, with lazy adapters in the last ``adapter_fraction`` of the
    steps (None: none); ``options`` are the trainer's keywords. Returns the model (eval mode) and
    its record."""
    if adapter_fraction is not None:
        check_slope(adapter_fraction=adapter_fraction, rank=adapter_rank)
        if options.get("nm", (2, 4)) is None:
            raise RecipeError("adapter_fraction", adapter_fraction, "None with nm=None (adapters ride on the sparse layers)")
    trainer = SLoPeTrainer(config, text, steps, batch, lr, seed, **options)
    if adapter_fraction is not None:
        trainer.run(lazy_adapter_start(steps, adapter_fraction)).add_adapters(adapter_rank)
    trainer.run()
    return trainer.model, trainer.record


def _cosine_lr(step: int, steps: int, warmup: int, peak: float) -> float:
    """Linear warmup to ``peak``, then cosine decay to 10% of it (``train_tiny_lm``'s schedule)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.45 * (1.0 + math.cos(math.pi * progress)))


# ----------------------------------------------------------------------------- MAC accounting
@dataclass(frozen=True)
class StepMACs:
    """Multiply-accumulates of one training step's GEMMs, by pass."""

    forward: float = 0.0
    input_grad: float = 0.0
    weight_grad: float = 0.0

    @property
    def backward(self) -> float:
        return self.input_grad + self.weight_grad

    @property
    def total(self) -> float:
        return self.forward + self.backward

    def __add__(self, other: StepMACs) -> StepMACs:
        return StepMACs(self.forward + other.forward, self.input_grad + other.input_grad, self.weight_grad + other.weight_grad)

    def __mul__(self, k: float) -> StepMACs:
        return StepMACs(k * self.forward, k * self.input_grad, k * self.weight_grad)

    __rmul__ = __mul__


def linear_macs(d_in: int, d_out: int, tokens: float = 1, *, nm: tuple[int, int] | str | None = None,
                backward: str = "dense", train_weight: bool = True) -> StepMACs:
    """MACs of one linear layer over ``tokens`` rows with N:M kernels where the operand allows one.

    forward x·(W⊙M_f)ᵀ: N/M of dense with an N:M mask. Input gradient ∂y·W: N/M with the
    double-pruned transpose (N:M along the reduction dimension d_out); dense with the forward mask
    alone, whose pattern runs along d_in, the wrong axis for this GEMM. Weight gradient ∂yᵀ·x:
    dense (SLoPe computes it densely and masks it), none when the weight is frozen.
    """
    if backward not in BACKWARDS:
        raise RecipeError("backward", backward, f"one of {', '.join(BACKWARDS)}")
    dense = float(tokens) * d_in * d_out
    density = 1.0
    if nm is not None:
        n, m = parse_nm(nm, "nm")
        density = n / m
    elif backward == "double_pruned":
        raise RecipeError("backward", backward, "dense without an N:M pattern (nm=None)")
    return StepMACs(dense * density, dense * (density if backward == "double_pruned" else 1.0),
                    dense if train_weight else 0.0)


def adapter_macs(d_in: int, d_out: int, rank: int, tokens: float = 1) -> StepMACs:
    """MACs of a rank-r adapter (x·L)·R over ``tokens`` rows: r(d_in + d_out) per row forward,
    the same again for the input gradient and for the gradients of L and R (all dense)."""
    check_slope(rank=rank)
    per = float(tokens) * rank * (d_in + d_out)
    return StepMACs(per, per, per)


# ----------------------------------------------------------------------------- frozen compressed bases
class DoublePrunedCompressedLinear(CompressedLinear):
    """A ``CompressedLinear`` whose input gradient multiplies by the double-pruned transpose of
    its frozen base Ŵ (SLoPe's backward for adapter fine-tuning over an N:M base).

    The forward is unchanged (a training forward uses the float32 Ŵ, as the "auto" path does for
    training windows); the double-pruned mask of the frozen base is computed once and cached.
    A saved layer (``config()``, ``save_compressed``) reloads as a plain ``CompressedLinear``.
    """

    def __init__(self, *args: Any, n: int = 2, m: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        (self.n, self.m), _, _, _ = check_slope(nm=(n, m))
        if self.out_features % self.m:
            raise ValueError(f"out_features={self.out_features} is not divisible by m={self.m}; the double-pruned "
                             "backward needs whole groups along the output dimension")
        self._backward_mask: tuple[tuple, Tensor] | None = None

    @classmethod
    def from_compressed(cls, layer: CompressedLinear, n: int = 2, m: int = 4) -> DoublePrunedCompressedLinear:
        new = cls(**layer.config(), n=n, m=m)
        new.load_state_dict(layer.state_dict())
        for name, param in layer.named_parameters():
            new.get_parameter(name).requires_grad_(param.requires_grad)
        new.cache_dense, new.kernel_threads = layer.cache_dense, layer.kernel_threads
        return new

    def backward_mask(self) -> Tensor:
        key = self._cache_key()
        if self._backward_mask is None or self._backward_mask[0] != key:
            with torch.no_grad():
                mask = double_pruned_backward_mask(self.dequantized_weight(), self.keep_mask(), self.n, self.m)
            self._backward_mask = (key, mask)
        return self._backward_mask[1]

    def forward(self, x: Tensor) -> Tensor:
        if not (torch.is_grad_enabled() and x.requires_grad):
            return super().forward(x)  # no input gradient: the ordinary paths
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x.shape[-1]={x.shape[-1]} does not match in_features={self.in_features}")
        W = self._reference_weight(cache=True).to(x.dtype)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        semi = (self.n, self.m) == (2, 4) and self.sparse_format == "2:4"  # Ŵ itself is 2:4 only then
        y = slope_linear(x, W, bias, None, self.backward_mask(), semi=semi)
        if self.rank:
            y = y + (x @ self.lora_L.to(x.dtype)) @ self.lora_R.to(x.dtype)
        return y

    def _apply(self, fn, recurse=True):
        self._backward_mask = None
        return super()._apply(fn, recurse)


def use_double_pruned_backward(model: nn.Module, n: int = 2, m: int = 4) -> int:
    """Give every ``CompressedLinear`` of ``model`` the double-pruned input gradient (in place,
    same names and parameters); returns how many layers were converted."""
    check_slope(nm=(n, m))
    count = 0
    for name, module in list(model.named_modules()):
        if isinstance(module, CompressedLinear) and not isinstance(module, DoublePrunedCompressedLinear):
            _replace(model, name, DoublePrunedCompressedLinear.from_compressed(module, n, m))
            count += 1
    return count
