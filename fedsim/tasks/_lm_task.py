"""Federated fine-tuning of a compressed language model's low-rank adapters.

The server trains a dense byte-level TinyLM on its share of the text, or loads ``lm.checkpoint``
(a TinyLM, or a Hugging Face causal LM directory: Llama, Qwen2, Mistral, GPT-2, OPT, whose text is
tokenized by its own tokenizer), compresses it once with ``kernels.compress_model`` (default: 2:4
sparsity, 4-bit SLiM-Quant, SLiM low-rank adapters), and the devices fine-tune only the adapters
on their own text shards. The federated state is the adapters: that is all that goes up (and
down) each round. Calibration is either the server's text or the sum of the clients' per-layer
statistics (``federated``), which is exact: statistics are sums. The final adapters are written
into the run directory in PEFT format, beside the packed base. SLoPe (``lm.pretrain=slope``,
``lm.backward=double_pruned``): the server pretrains the base sparse, and the devices' fine-tuning
is SLoPe's lazy-adapter phase, its input gradients through the double-pruned transpose of the
base, priced at N/M of the dense GEMM.
"""

from __future__ import annotations

import copy
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from flwr.app import ArrayRecord
from torch import nn

import fedsim_kernels as kernels

from ..config import OperatingPoint
from ..torch_rng import torch_stream
from ..ledger import Column
from ..workload import Workload
from ._aggregate import weighted_average
from ._lm_base import LanguageModelTask, _threads
from ._optimizer import build_optimizer, optimizer_part, release
from ._client_side import PLAIN, ClientSide
from ._task import LocalResult


class AdapterLMTask(LanguageModelTask):
    """Devices fine-tune the low-rank adapters of the compressed base; they are the federated state."""

    @cached_property
    def _compressed(self) -> tuple[nn.Module, Any]:
        return self._compress(self.config.lm.calibration)

    @property
    def compressed_model(self) -> nn.Module:
        return self._compressed[0]

    @property
    def compression_report(self) -> Any:
        return self._compressed[1]

    def _compress(self, calibration: str) -> tuple[nn.Module, Any]:
        """The compressed model with trainable adapters only, and the compression report.

        ``lm.compress=false`` keeps the dense base (stored in float32) with zero-initialised LoRA:
        the dense-base baseline. ``lm.lowrank=none`` compresses without compensation and adds
        zero-initialised LoRA, so every configuration fine-tunes adapters of the same rank.
        """
        lm = self.config.lm
        model = copy.deepcopy(self.dense_model)
        report = None
        if lm.compress:
            sparsity = lm.sparsity if lm.sparsity is None or ":" in str(lm.sparsity) else float(lm.sparsity)
            batches, groups = self.calibration_data(calibration)
            with _threads(1):  # tiny layers: a second thread only waits (10x slower under load)
                report = kernels.compress_model(
                    model,
                    batches,
                    calibration_groups=groups,
                    sparsity=sparsity,
                    pruner=lm.pruner,
                    bits=lm.bits,
                    quantizer=lm.quantizer,
                    group_size=lm.group_size,
                    lowrank=lm.lowrank,
                    rank_ratio=lm.rank_ratio,
                    reconstruct=lm.reconstruct,
                    progress=False,
                )
        else:
            _, blocks = kernels.find_blocks(model)
            for block in blocks:
                for name, child in list(block.named_modules()):
                    for attr, sub in list(child.named_children()):
                        if isinstance(sub, nn.Linear):
                            setattr(child, attr, kernels.CompressedLinear.from_linear(sub, bits=None))
        g = torch_stream(self.config.seed, "lora-init")
        for layer in model.modules():
            if isinstance(layer, kernels.CompressedLinear) and not layer.rank:
                _attach_lora(layer, kernels.rank_from_ratio((layer.out_features, layer.in_features), lm.rank_ratio), g)
        if lm.backward == "double_pruned":  # SLoPe: input gradients through the base's double-pruned transpose
            kernels.use_double_pruned_backward(model, *kernels.parse_nm(lm.sparsity))
        for name, param in model.named_parameters():
            param.requires_grad_(name.endswith(("lora_L", "lora_R")))
        return model.eval(), report

    def calibration_data(self, calibration: str) -> tuple[list[torch.Tensor], list[int] | None]:
        """Calibration inputs: the server's text, or (``federated``) windows of every device's
        shard with the device as its group, so each device's per-layer statistics are gathered
        on its own and summed by the server."""
        count = self.config.lm.calibration_batches
        if calibration == "server":
            return self.calibration_batches(self.server_text, count, "calibration-server"), None
        per_device = max(1, count // self.config.world.num_devices)
        batches: list[torch.Tensor] = []
        groups: list[int] = []
        for device in range(self.config.world.num_devices):
            batches += self.calibration_batches(self.shard(device), per_device, f"calibration-{device}")
            groups += [device] * per_device
        return batches, groups

    @cached_property
    def scratch_model(self) -> nn.Module:
        """A copy of the compressed model reused for local training (adapters overwritten)."""
        return copy.deepcopy(self.compressed_model)

    # -- federated state: the trainable adapter parameters -----------------------------------
    @property
    def trained_model(self) -> nn.Module:
        return self.compressed_model

    def local_update(self, record: ArrayRecord, device: int, server_round: int, op: OperatingPoint, client: ClientSide = PLAIN) -> LocalResult:
        lm = self.config.lm
        model = self.scratch_model
        self._load(model, record)
        start = [np.array(record[k].numpy()) for k in self.update_keys]
        params = dict(model.named_parameters())
        trainable = [params[k] for k in self.update_keys]
        train = self.config.train
        optimizer = build_optimizer(train.optimizer or "adamw", model, trainable, lr=lm.lr, momentum=train.momentum,
                                    inv_freq=train.mkor_inv_freq, inner="adamw")
        g = torch_stream(self.config.seed, "lm-local-training", device, server_round)
        model.train()
        try:
            with _threads(1):
                total = self._train_steps(model, optimizer, self.shard(device), op.local_iters, g)
        finally:
            release(optimizer)
        update = [params[k].detach().numpy() - s for k, s in zip(self.update_keys, start)]
        return LocalResult(update, self.num_examples(device), total / op.local_iters, {"memory-bytes": self.memory_bytes})

    def _train_steps(self, model: nn.Module, optimizer, shard: torch.Tensor, steps: int, g: torch.Generator) -> float:
        """``steps`` optimizer steps on random windows of the shard; the summed loss."""
        context = self.config.lm.context
        total = 0.0
        for _ in range(steps):
            starts = torch.randint(0, max(shard.numel() - context - 1, 1), (self.config.train.batch_size,), generator=g)
            window = torch.stack([shard[s : s + context + 1] for s in starts])
            logits = model(window[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach().item()
        return total

    @torch.no_grad()
    def evaluate(self, record: ArrayRecord, op: OperatingPoint) -> dict[str, float]:
        model = self.scratch_model
        self._load(model, record)
        model.eval()
        with _threads(1):
            return self._text_metrics(model, self.test_text)

    def evaluate_device(self, record: ArrayRecord, device: int, op: OperatingPoint) -> dict[str, float]:
        model = self.scratch_model
        self._load(model, record)
        model.eval()
        with torch.no_grad():
            return self._text_metrics(model, self.shard(device))

    # -- aggregation -------------------------------------------------------------------------
    def adapter_pairs(self) -> list[tuple[int, int]]:
        """Indices (into update_keys) of each layer's (L, R) factors: y += (x·L)·R."""
        pairs = []
        shapes = self.update_shapes
        for i in range(0, len(self.update_keys) - 1):
            a, b = shapes[i], shapes[i + 1]
            same_layer = self.update_keys[i].rsplit(".", 1)[0] == self.update_keys[i + 1].rsplit(".", 1)[0]
            if same_layer and len(a) == 2 and len(b) == 2 and a[1] == b[0]:
                pairs.append((i, i + 1))
        return pairs

    def aggregate(self, record, updates, weights):
        """FedAvg over the factors, or (``svd``) the exact average of ΔW = L·R re-factorized by
        truncated SVD. Either way the ledger gets the aggregation error of the factor average."""
        start = [record[k].numpy() for k in self.update_keys]
        locals_ = [[s + d for s, d in zip(start, u)] for u in updates]
        w = np.asarray(weights, dtype=float) / np.sum(weights)
        factor_avg = [s + d for s, d in zip(start, weighted_average(updates, weights))]
        new = list(factor_avg)
        errors = []
        for li, ri in self.adapter_pairs():
            exact = sum(wk * (loc[li].astype(np.float64) @ loc[ri].astype(np.float64)) for wk, loc in zip(w, locals_))
            approx = factor_avg[li].astype(np.float64) @ factor_avg[ri].astype(np.float64)
            norm = np.linalg.norm(exact)
            errors.append(float(np.linalg.norm(approx - exact) / norm) if norm > 0 else 0.0)
            if self.config.lm.aggregation == "svd":
                rank = start[li].shape[1]
                L, R = kernels.refactorize(torch.from_numpy(exact), rank)
                new[li], new[ri] = L.numpy().astype(np.float32), R.numpy().astype(np.float32)
        state = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in zip(self.update_keys, new)}
        return ArrayRecord(torch_state_dict=state), {"error": float(np.mean(errors)) if errors else 0.0}

    # -- what the World prices ---------------------------------------------------------------
    @cached_property
    def _layers(self) -> list[kernels.CompressedLinear]:
        return [m for m in self.compressed_model.modules() if isinstance(m, kernels.CompressedLinear)]

    @cached_property
    def workload_parts(self) -> list[tuple[Workload, int | None]]:
        """Per sequence of ``context`` tokens: the compressed linears at the base's precision and
        density, the adapters at the training precision, the dense remainder (embeddings,
        attention scores, head) at 32 bits, and MKOR's per-step factor work when it is the optimizer.
        With ``lm.backward=double_pruned`` the base's backward is its input gradient alone (the base
        is frozen) at N/M of the dense GEMM (``kernels.linear_macs``); otherwise twice its forward."""
        lm = self.config.lm
        t = lm.context
        base_params = sum(int(layer.keep_mask().sum()) for layer in self._layers)
        base_outputs = sum(layer.out_features for layer in self._layers)
        adapter_params = sum(layer.rank * (layer.in_features + layer.out_features) for layer in self._layers)
        a = self.arch
        head_macs = a["d_model"] * a["vocab"] + a["n_layers"] * 2 * t * a["d_model"]  # head + QK^T and AV per token
        other_params = sum(p.numel() for p in self.compressed_model.parameters() if not p.requires_grad)
        base_bits = lm.bits if (lm.compress and lm.bits is not None) else 32
        train = self.config.train
        optimizer = optimizer_part(train.optimizer or "adamw", self.compressed_model, train.batch_size, train.mkor_inv_freq)
        return [
            (Workload(params=base_params, macs=float(t * base_params), activations=t * base_outputs, input_size=t,
                      backward_macs=self.base_backward_macs), base_bits),
            (Workload(params=adapter_params, macs=float(t * adapter_params), activations=t * sum(layer.rank for layer in self._layers), input_size=t), None),
            (Workload(params=max(other_params, 1), macs=float(t * head_macs), activations=t * a["vocab"], input_size=t), 32),
        ] + ([optimizer] if optimizer else [])  # MKOR's factor updates, per step

    @cached_property
    def base_backward_macs(self) -> float | None:
        """MACs of the input gradient through the frozen base per sequence with the double-pruned
        backward (N:M kernels), or None: the Workload's default of twice the forward."""
        lm = self.config.lm
        if lm.backward == "dense":
            return None
        nm = kernels.parse_nm(lm.sparsity)
        return float(sum(kernels.linear_macs(layer.in_features, layer.out_features, lm.context, nm=nm, backward=lm.backward,
                                             train_weight=False).backward for layer in self._layers))

    @property
    def downlink_bits(self) -> float:
        return float(32 * sum(int(np.prod(s)) for s in self.update_shapes))  # the adapters only

    @cached_property
    def memory_bytes(self) -> int:
        """Estimated peak memory of a device's local step: the stored model, adapter gradients and
        AdamW moments, and the activations kept for backward (attention maps included). The
        double-pruned backward keeps its transposed N:M copy of the base beside it (as SLoPe's
        kernels do), counted at the packed base's size."""
        lm = self.config.lm
        stored = sum(layer.nbytes() for layer in self._layers)
        if lm.backward == "double_pruned":
            stored += sum(layer.base_nbytes() for layer in self._layers)
        stored += 4 * sum(p.numel() for n, p in self.compressed_model.named_parameters() if "lora_" not in n)
        adapters = sum(p.numel() for p in self.compressed_model.parameters() if p.requires_grad)
        b, t, a = self.config.train.batch_size, lm.context, self.arch
        per_layer = t * (10 * a["d_model"] + 2 * a["d_ff"]) + a["n_heads"] * t * t
        activations = 4 * b * (a["n_layers"] * per_layer + t * a["vocab"])
        return int(stored + 3 * 4 * adapters + activations)

    round_columns = (
        Column("test_perplexity", "exp of the next-byte test loss"),
        Column("aggregation_error", "relative error of plain factor averaging vs the exact mean of L·R"),
    )
    @property
    def device_columns(self) -> tuple[Column, ...]:
        return (Column("memory_bytes", "estimated peak memory of the device's fine-tuning"), *self.fault_columns)

    def round_extras(self, metrics: dict[str, float], aggregation: dict[str, Any] | None) -> dict[str, Any]:
        return {"test_perplexity": metrics["perplexity"], "aggregation_error": None if aggregation is None else aggregation.get("error")}

    def device_extras(self, reply_metrics: dict[str, Any]) -> dict[str, Any]:
        return {"memory_bytes": reply_metrics.get("memory-bytes"), **self.fault_extras(reply_metrics)}

    def summary_extra(self) -> dict[str, Any]:
        dense_linear_bytes = sum(4 * (layer.in_features * layer.out_features + layer.out_features) for layer in self._layers)
        base_bytes = sum(layer.base_nbytes() + (4 * layer.out_features if layer.bias is not None else 0) for layer in self._layers)
        return {
            "lm": {
                "dense_linear_bytes": dense_linear_bytes,
                "compressed_linear_bytes": base_bytes,
                "bytes_ratio": base_bytes / dense_linear_bytes,
                "adapter_params": sum(int(np.prod(s)) for s in self.update_shapes),
                "adapter_tensors": len(self.update_keys),
                "dense_test_perplexity": self._dense_perplexity,
                "memory_bytes": self.memory_bytes,
                "pretrain": self.config.lm.pretrain,
                "backward": self.config.lm.backward,
                "base_backward_macs": self.workload_parts[0][0].backward_macs_or_default,
            }
        }

    def write_artifacts(self, record: ArrayRecord, output_dir: Any) -> list[str]:
        """A Hugging Face base gets its final adapters in PEFT format (``peft_adapter/``, loadable
        by ``PeftModel.from_pretrained`` onto the dense checkpoint) and the packed base with them
        (``compressed_base/``, for ``kernels.load_compressed`` onto ``kernels.load_causal_lm``)."""
        if not self.is_hf:
            return []
        out = Path(output_dir)
        model = self.scratch_model
        self._load(model, record)
        kernels.save_peft_adapter(model, out / "peft_adapter", base_model_name_or_path=str(Path(self.config.lm.checkpoint).resolve()))
        kernels.save_compressed(model, out / "compressed_base")
        return ["peft_adapter", "compressed_base"]

def _attach_lora(layer: kernels.CompressedLinear, rank: int, generator: torch.Generator) -> None:
    """Zero-initialised LoRA (L random, R = 0): the layer starts out unchanged."""
    layer.rank = rank
    layer.lora_L = nn.Parameter(torch.randn(layer.in_features, rank, generator=generator) / math.sqrt(layer.in_features))
    layer.lora_R = nn.Parameter(torch.zeros(rank, layer.out_features))
