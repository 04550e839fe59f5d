"""The base of fedsim's language-model tasks: the scenario's text, its shards and the dense base.

The text is the generated English-like corpus (or ``lm.text_path``), as UTF-8 bytes for TinyLM or
as the checkpoint's own tokens for a Hugging Face base; the server keeps the first share
(pretraining and calibration), the devices split the middle and the last tenth is held out. The
dense base is trained here (and cached on disk), or loaded from ``lm.checkpoint``: a TinyLM or a
Hugging Face causal-LM directory, whose problems are one-line ``ConfigError``s naming the key.
With ``lm.pretrain=slope`` the server pretrains it sparse instead (SLoPe: static N:M masks of
``lm.sparsity``, the double-pruned backward), so the "dense" base is then N:M in its blocks.
What the devices learn on top of it is the subclass's: adapters (``AdapterLMTask``) or sparsity
masks (``MaskLMTask``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from functools import cached_property
from pathlib import Path

import torch
import torch.nn.functional as F
from flwr.app import ArrayRecord
from torch import nn

import fedsim_kernels as kernels

from .._torch_threads import torch_threads as _threads  # the LM's small matmuls run on one thread
from ..errors import ConfigError
from ..torch_rng import torch_stream
from ._task import Task

# Text shares: the server's (pretraining and calibration), the devices', and a held-out test part.
SERVER_SHARE, TEST_SHARE = 0.45, 0.1


class LanguageModelTask(Task):
    """Text, shards, the dense base and next-token metrics, shared by the LM tasks."""

    # -- text ---------------------------------------------------------------------------------
    @cached_property
    def text(self) -> torch.Tensor:
        """The scenario's text as token ids: UTF-8 bytes for TinyLM, else the checkpoint's tokenizer."""
        lm = self.config.lm
        if lm.text_path is not None:
            raw = _read_text(lm.text_path, min_chars=20 * lm.context)
        else:
            raw = kernels.generate_corpus(self.config.seed, lm.corpus_chars)
        if self.is_hf:
            ids = self.dense_model.encode(raw)
            if ids.numel() < 20 * lm.context:
                raise ConfigError("lm.corpus_chars", lm.corpus_chars, f"enough text for {20 * lm.context} tokens "
                                  f"of the checkpoint's tokenizer (got {ids.numel()})")
            return ids
        return torch.tensor(list(raw.encode("utf-8", errors="replace")), dtype=torch.long)

    # -- the base's architecture --------------------------------------------------------------
    @cached_property
    def is_hf(self) -> bool:
        """Whether the base is a Hugging Face checkpoint (else a TinyLM, trained or loaded)."""
        path = self.config.lm.checkpoint
        return path is not None and self._checked(kernels.checkpoint_model_type, path) != "tinylm"

    def _checked(self, load, path: str):
        """``load(path)``; a bad checkpoint is a one-line error naming ``lm.checkpoint``."""
        try:
            return load(path)
        except kernels.CheckpointError as error:
            raise ConfigError("lm.checkpoint", path, error.problem) from None
        except (FileNotFoundError, ValueError, RuntimeError, KeyError) as error:
            raise ConfigError("lm.checkpoint", path, f"a loadable TinyLM directory ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else ''})") from None

    @cached_property
    def arch(self) -> dict[str, int]:
        """Sizes the energy and memory estimates need: vocab, d_model, n_layers, n_heads, d_ff."""
        m = self.dense_model
        if self.is_hf:
            return dict(vocab=m.vocab_size, d_model=m.d_model, n_layers=m.n_layers, n_heads=m.n_heads, d_ff=m.d_ff)
        c = m.config
        return dict(vocab=c.vocab_size, d_model=c.d_model, n_layers=c.n_layers, n_heads=c.n_heads, d_ff=c.d_ff)

    @cached_property
    def _splits(self) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        n = self.text.numel()
        server_end = int(n * SERVER_SHARE)
        test_start = int(n * (1.0 - TEST_SHARE))
        device_text = self.text[server_end:test_start]
        shards = list(torch.tensor_split(device_text, self.config.world.num_devices))
        return self.text[:server_end], shards, self.text[test_start:]

    @property
    def server_text(self) -> torch.Tensor:
        return self._splits[0]

    @property
    def test_text(self) -> torch.Tensor:
        return self._splits[2]

    def shard(self, device: int) -> torch.Tensor:
        return self._splits[1][device]

    # -- models -------------------------------------------------------------------------------
    @cached_property
    def dense_model(self) -> nn.Module:
        """The dense base: a local checkpoint, or trained on the server's text and cached on disk
        (keyed by everything that determines it) so sweeps do not train it again."""
        lm = self.config.lm
        if lm.checkpoint is not None:
            if self.is_hf:
                model = self._checked(kernels.load_causal_lm, lm.checkpoint)
                if lm.context > model.max_positions:
                    raise ConfigError("lm.context", lm.context, f"at most the checkpoint's {model.max_positions} positions")
                return model.eval()
            model = self._checked(kernels.load_pretrained, lm.checkpoint)
            if lm.context > model.config.context:
                raise ConfigError("lm.context", lm.context, f"at most the checkpoint's context={model.config.context}")
            return model.eval()
        arch = kernels.TinyLMConfig(
            vocab_size=256, d_model=lm.d_model, n_layers=lm.n_layers, n_heads=lm.n_heads, d_ff=lm.d_ff, context=lm.context
        )
        if lm.pretrain_steps == 0:  # no pretraining: the seeded initialization train_tiny_lm starts from
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.config.seed)
                return kernels.TinyLM(arch).eval()
        recipe = {**arch.to_dict(), "steps": lm.pretrain_steps, "lr": lm.pretrain_lr, "seed": self.config.seed,
                  "text": lm.text_path or f"generated-{lm.corpus_chars}", "server_share": SERVER_SHARE}
        if lm.pretrain != "dense":  # only then: the dense bases' cache keys stay what they were
            recipe["pretrain"] = f"{lm.pretrain}-{lm.sparsity}"
        cache = _cache_dir() / "tinylm" / hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
        if cache.exists():
            try:
                return kernels.load_pretrained(cache).eval()
            except Exception as error:  # noqa: BLE001 - any unreadable cache is rebuilt, not fatal
                # A cache is only a cache: say where it was and train the base again.
                print(f"fedsim: warning: the cached TinyLM base at {cache} is unreadable "
                      f"({type(error).__name__}); training it again", file=sys.stderr)
        with _threads(1):
            if lm.pretrain == "slope":  # SLoPe's sparse phase; its lazy-adapter phase is the devices' fine-tuning
                model, _ = kernels.train_slope_lm(arch, self.server_text, steps=lm.pretrain_steps, lr=lm.pretrain_lr,
                                                  seed=self.config.seed, nm=lm.sparsity, backward="double_pruned")
                model = kernels.export_linears(model)
            else:
                model = kernels.train_tiny_lm(arch, self.server_text, steps=lm.pretrain_steps, lr=lm.pretrain_lr, seed=self.config.seed)
        _save_cache(model, cache)
        return model.eval()

    def calibration_batches(self, text: torch.Tensor, count: int, purpose: str) -> list[torch.Tensor]:
        """``count`` seeded windows of ``text`` (one batch of 4 each) for calibration statistics."""
        context = self.config.lm.context
        g = torch_stream(self.config.seed, purpose)
        starts = torch.randint(0, max(text.numel() - context, 1), (count, 4), generator=g)
        return [torch.stack([text[s : s + context] for s in row]) for row in starts]

    # -- federated state: the trainable parameters of ``trained_model`` ----------------------
    @property
    def trained_model(self) -> nn.Module:
        """The model whose trainable parameters are the federated state (adapters, mask logits)."""
        raise NotImplementedError

    @cached_property
    def update_keys(self) -> list[str]:
        return [name for name, p in self.trained_model.named_parameters() if p.requires_grad]

    def initial_record(self) -> ArrayRecord:
        params = dict(self.trained_model.named_parameters())
        return ArrayRecord(torch_state_dict={k: params[k].detach().clone() for k in self.update_keys})

    def _load(self, model: nn.Module, record: ArrayRecord) -> None:
        """Copy the state entries of ``record`` into ``model`` (a copy of ``trained_model``)."""
        params = dict(model.named_parameters())
        with torch.no_grad():
            for key in self.update_keys:
                params[key].copy_(torch.from_numpy(record[key].numpy()))

    def num_examples(self, device: int) -> int:
        return int(self.shard(device).numel())

    def _text_metrics(self, model: nn.Module, text: torch.Tensor) -> dict[str, float]:
        """Next-byte loss (nats), accuracy and perplexity on non-overlapping windows."""
        context = self.config.lm.context
        usable = (text.numel() - 1) // context * context
        inputs = text[:usable].reshape(-1, context)
        targets = text[1 : usable + 1].reshape(-1, context)
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item()
        accuracy = (logits.argmax(-1) == targets).float().mean().item()
        return {"loss": loss, "accuracy": accuracy, "perplexity": math.exp(loss)}

    @cached_property
    def _dense_perplexity(self) -> float:
        with torch.no_grad():
            return self._text_metrics(self.dense_model.eval(), self.test_text)["perplexity"]


def _read_text(path: str, *, min_chars: int) -> str:
    """``lm.text_path``: an existing UTF-8 file with enough text for the server, devices and test."""
    try:
        raw = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise ConfigError("lm.text_path", path, f"a readable text file ({error.strerror or type(error).__name__})") from None
    if len(raw) < min_chars:
        raise ConfigError("lm.text_path", path, f"a text file of at least {min_chars} characters (20 windows of lm.context); it has {len(raw)}")
    return raw


def _save_cache(model: nn.Module, cache: Path) -> None:
    """Write the trained base beside ``cache`` and rename it into place, so a killed run leaves
    no half-written cache (and a stale one is replaced whole)."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    model.save_pretrained(staging)
    if cache.exists():
        shutil.rmtree(cache)
    os.replace(staging, cache)


def _cache_dir() -> Path:
    return Path(os.environ.get("FEDSIM_CACHE_DIR", Path.home() / ".cache" / "fedsim"))


