"""Federated learning of sparsity masks: devices learn mask logits of the frozen dense base.

Every Linear of the decoder blocks becomes a ``kernels.MaskedLinear`` whose mask is
- ``leap``: a per-weight keep-logit relaxed with a Gumbel-sigmoid (LEAP; unstructured), or
- ``patch``: per group of 4 inputs, logits over the six 2:4 patterns relaxed with a
  Gumbel-softmax (PATCH without tile gates: exactly 2:4).
The logits start at the one-shot Wanda mask (score |W|·√s_j from the server's calibration text,
scaled so the deterministic mask *is* Wanda's), devices train them on their own text with
straight-through hard samples (weights frozen; LEAP adds λ·(density − target)²), the server
averages them (example-weighted FedAvg) and broadcasts them: the logits are the federated state
and what goes up, priced by the World at ``op.uplink_bits`` like any update.

The evaluated mask keeps exactly ``mask_density`` of every row (LEAP: the row's largest
logits) or the most likely 2:4 pattern of every group (PATCH), so it is compared with the
one-shot Wanda and SparseGPT masks (``kernels.compress_model``, no quantization) at equal
sparsity on the held-out text. SparseGPT also updates the kept weights; the learned mask does not.
"""

from __future__ import annotations

import copy
from functools import cached_property
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from flwr.app import ArrayRecord
from torch import nn

import fedsim_kernels as kernels

from ..config import OperatingPoint
from ..ledger import Column
from ..torch_rng import torch_stream
from ..workload import Workload
from ._lm_base import LanguageModelTask, _threads
from ._client_side import PLAIN, ClientSide
from ._task import LocalResult

_INIT_SCALE = 3.0  # initial logits: standardized Wanda margin × this (a confident, not saturated, start)
_SCALE_GROWTH = 3.0  # the logits' scale grows from 1 to 1 + this over the rounds (sharper samples)


class MaskLMTask(LanguageModelTask):
    # -- the masked model ---------------------------------------------------------------------
    @cached_property
    def _wanda_scores(self) -> dict[str, torch.Tensor]:
        """|W|·√s_j of every block Linear, s_j from the server's calibration windows."""
        model = self.dense_model
        _, blocks = kernels.find_blocks(model)
        linears = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)
                   and any(m is x for b in blocks for x in b.modules())}
        stats = {n: kernels.LayerStats() for n in linears}

        def record(name: str):
            def hook(_mod: nn.Module, args: tuple, _out: Any) -> None:  # returns None: output unchanged
                stats[name].update(args[0].detach())
            return hook

        hooks = [m.register_forward_hook(record(n)) for n, m in linears.items()]
        try:
            with torch.no_grad(), _threads(1):
                for batch in self.calibration_batches(self.server_text, self.config.lm.calibration_batches, "calibration-server"):
                    model(batch)
        finally:
            for h in hooks:
                h.remove()
        return {n: kernels.wanda_score(m.weight.detach(), stats[n].s.to(torch.float32)) for n, m in linears.items()}

    def _initial_logits(self, score: torch.Tensor) -> dict[str, torch.Tensor]:
        lm = self.config.lm
        if lm.mask == "leap":
            keep = _row_topk(score, lm.mask_density)
            # Margin to the row's cut between kept and pruned scores, standardized per row.
            kept_min = torch.where(keep, score, torch.full_like(score, float("inf"))).min(1, keepdim=True).values
            pruned_max = torch.where(keep, torch.full_like(score, -float("inf")), score).max(1, keepdim=True).values
            cut = (kept_min + pruned_max) / 2
            z = (score - cut) / score.std(1, keepdim=True).clamp_min(1e-12)
            return {"logits": _INIT_SCALE * z}
        groups = score.reshape(score.shape[0], -1, 4)
        pattern = groups @ kernels.PATTERNS_24.T  # (d_out, d_in/4, 6): the score each pattern keeps
        z = (pattern - pattern.mean(-1, keepdim=True)) / pattern.std(-1, keepdim=True).clamp_min(1e-12)
        return {"pattern_logits": _INIT_SCALE * z}

    @cached_property
    def masked_model(self) -> nn.Module:
        """The dense base with a learnable mask on every block Linear; only the logits train."""
        lm = self.config.lm
        model = copy.deepcopy(self.dense_model)
        for p in model.parameters():
            p.requires_grad_(False)
        generator = torch_stream(self.config.seed, "mask-noise")
        for name, score in self._wanda_scores.items():
            linear = model.get_submodule(name)
            init = self._initial_logits(score)
            if lm.mask == "leap":
                mask = kernels.GumbelSigmoidMask(tuple(score.shape), logits=init["logits"], temperature=lm.mask_temperature,
                                                 hard=True, generator=generator)
            else:
                mask = kernels.Gumbel24Mask(tuple(score.shape), gated=False, pattern_logits=init["pattern_logits"],
                                            temperature=lm.mask_temperature, hard=True, generator=generator)
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, kernels.MaskedLinear(linear, mask))
        return model.eval()

    @cached_property
    def _masks(self) -> dict[str, nn.Module]:
        return {n: m.mask for n, m in self.masked_model.named_modules() if isinstance(m, kernels.MaskedLinear)}

    def hard_masks(self, record: ArrayRecord) -> dict[str, torch.Tensor]:
        """The evaluated masks of a global state: exactly ``mask_density`` of every row kept
        (LEAP: the largest logits) or the most likely 2:4 pattern of every group (PATCH)."""
        self._load(self.masked_model, record)
        if self.config.lm.mask == "leap":
            return {n: _row_topk(m.logits.detach(), self.config.lm.mask_density) for n, m in self._masks.items()}
        return {n: m.hard_mask().to(torch.bool) for n, m in self._masks.items()}

    def pruned_model(self, masks: dict[str, torch.Tensor]) -> nn.Module:
        """A copy of the dense base with ``masks`` applied to its weights."""
        model = copy.deepcopy(self.dense_model)
        with torch.no_grad():
            for name, keep in masks.items():
                weight = model.get_submodule(name).weight
                weight.mul_(keep.to(weight.dtype))
        return model.eval()

    # -- federated state: the mask logits -----------------------------------------------------
    @property
    def trained_model(self) -> nn.Module:
        return self.masked_model

    def local_update(self, record: ArrayRecord, device: int, server_round: int, op: OperatingPoint, client: ClientSide = PLAIN) -> LocalResult:
        lm = self.config.lm
        self._load(self.masked_model, record)
        model = self.masked_model
        start = [np.array(record[k].numpy()) for k in self.update_keys]
        params = dict(model.named_parameters())
        optimizer = torch.optim.Adam([params[k] for k in self.update_keys], lr=lm.mask_lr)
        scale = 1.0 + _SCALE_GROWTH * (server_round - 1) / max(self.config.rounds - 1, 1)
        g = torch_stream(self.config.seed, "mask-local-training", device, server_round)
        for mask in self._masks.values():
            mask.scale, mask.generator = scale, g
        shard, context = self.shard(device), lm.context
        total = 0.0
        model.train()
        try:
            with _threads(1):
                for _ in range(op.local_iters):
                    starts = torch.randint(0, max(shard.numel() - context - 1, 1), (self.config.train.batch_size,), generator=g)
                    window = torch.stack([shard[s : s + context + 1] for s in starts])
                    logits = model(window[:, :-1])
                    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1))
                    if lm.mask == "leap" and lm.mask_lambda > 0:
                        loss = loss + lm.mask_lambda * sum(m.density_loss(lm.mask_density) for m in self._masks.values())
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += loss.detach().item()
        finally:
            model.eval()
            for mask in self._masks.values():
                mask.scale = 1.0
        update = [params[k].detach().numpy() - s for k, s in zip(self.update_keys, start)]
        return LocalResult(update, self.num_examples(device), total / op.local_iters)

    def evaluate(self, record: ArrayRecord, op: OperatingPoint) -> dict[str, float]:
        masks = self.hard_masks(record)
        with torch.no_grad(), _threads(1):
            metrics = self._text_metrics(self.pruned_model(masks), self.test_text)
        metrics["density"] = float(sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values()))
        return metrics

    def evaluate_device(self, record: ArrayRecord, device: int, op: OperatingPoint) -> dict[str, float]:
        with torch.no_grad(), _threads(1):
            return self._text_metrics(self.pruned_model(self.hard_masks(record)), self.shard(device))

    # -- the one-shot masks at equal sparsity -------------------------------------------------
    @cached_property
    def one_shot_perplexity(self) -> dict[str, float]:
        """Held-out perplexity of the Wanda and SparseGPT masks at the learned mask's sparsity."""
        lm = self.config.lm
        sparsity: Any = "2:4" if lm.mask == "patch" else 1.0 - lm.mask_density
        batches = self.calibration_batches(self.server_text, lm.calibration_batches, "calibration-server")
        out = {}
        for pruner in ("wanda", "sparsegpt"):
            model = copy.deepcopy(self.dense_model)
            with _threads(1):
                kernels.compress_model(model, batches, sparsity=sparsity, pruner=pruner, bits=None, lowrank="none",
                                       layer_filter=lambda n, m: n in self._wanda_scores, progress=False)
                with torch.no_grad():
                    out[pruner] = self._text_metrics(model.eval(), self.test_text)["perplexity"]
        return out

    # -- what the World prices ---------------------------------------------------------------
    @cached_property
    def workload_parts(self) -> list[tuple[Workload, int | None]]:
        """Per sequence: the masked forward/backward of the dense base (its linears, attention and
        head at 32 bits) plus drawing one mask sample per logit per step (spread over the batch)."""
        t, a = self.config.lm.context, self.arch
        linear = sum(int(s.numel()) for s in self._wanda_scores.values())
        logits = self.upload_params
        head_macs = a["d_model"] * a["vocab"] + a["n_layers"] * 2 * t * a["d_model"]
        macs = float(t * (linear + head_macs) + 4 * logits / self.config.train.batch_size)
        activations = t * (sum(int(s.shape[0]) for s in self._wanda_scores.values()) + a["vocab"])
        return [(Workload(params=logits, macs=macs, activations=activations, input_size=t), 32)]

    @property
    def downlink_bits(self) -> float:
        return float(32 * self.upload_params)  # the float32 logits

    round_columns = (
        Column("test_perplexity", "exp of the next-token test loss with the hard mask"),
        Column("mask_density", "kept fraction of the hard masks' weights"),
    )

    def round_extras(self, metrics: dict[str, float], aggregation: dict[str, Any] | None) -> dict[str, Any]:
        return {"test_perplexity": metrics["perplexity"], "mask_density": metrics.get("density")}

    def summary_extra(self) -> dict[str, Any]:
        return {"masks": {
            "mask": self.config.lm.mask,
            "target_density": 0.5 if self.config.lm.mask == "patch" else self.config.lm.mask_density,
            "logits": self.upload_params,
            "dense_test_perplexity": self._dense_perplexity,
            "one_shot_test_perplexity": self.one_shot_perplexity,
        }}


def _row_topk(score: torch.Tensor, density: float) -> torch.Tensor:
    """Boolean mask keeping the round(density·d_in) largest entries of every row."""
    k = max(1, int(round(density * score.shape[1])))
    keep = torch.zeros_like(score, dtype=torch.bool)
    return keep.scatter_(1, score.topk(k, dim=1).indices, True)
