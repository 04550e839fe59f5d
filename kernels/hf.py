"""Hugging Face causal-LM checkpoints: load a ``save_pretrained`` directory safely, offline.

``load_causal_lm(dir)`` reads ``config.json``, the weights (``model.safetensors``, a sharded
``model.safetensors.index.json``, or a ``pytorch_model.bin`` loaded with ``weights_only=True``, so
a pickle can never run code) and the tokenizer files, and returns a ``CausalLM``: the model called
as fedsim's LMs are (``forward(ids) -> logits``) with its own tokenizer. Nothing is downloaded.

Every way a directory can be wrong (missing, empty, no or corrupt ``config.json``, an unsupported
``model_type``, garbage or missing weights, tensor names or shapes that do not fit the
architecture, no tokenizer) raises ``CheckpointError``: one line naming the path and the problem.

GPT-2's ``Conv1D`` layers (a Linear stored transposed) are converted to ``nn.Linear`` on load, so
``compress_model`` finds every projection of a decoder block by module type; ``fan_in_fan_out``
records it for the PEFT export. ``transformers`` (and ``safetensors``) are the ``llm`` extra.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._torch_load import load_tensors_only

__all__ = ["CausalLM", "CheckpointError", "HF_MODEL_TYPES", "checkpoint_model_type", "load_causal_lm"]

# Decoder families whose blocks are plain Linear (or Conv1D) projections; tested on tiny random ones.
HF_MODEL_TYPES = ("llama", "qwen2", "mistral", "gpt2", "opt")
_SAFETENSORS, _INDEX, _PICKLE = "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"


class CheckpointError(ValueError):
    """A checkpoint directory cannot be loaded; the message is one line naming it and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(f"checkpoint={self.path!r}: {problem}")


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


class CausalLM(nn.Module):
    """A Hugging Face causal LM as a plain ``ids (B, T) -> logits (B, T, V)`` module, plus its tokenizer.

    ``model`` is the transformers model (its module names are the checkpoint's, which the PEFT
    export uses); ``tokenizer`` turns the scenario's text into ids (``encode``).
    """

    def __init__(self, model: nn.Module, tokenizer: Any, *, fan_in_fan_out: bool = False) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.fan_in_fan_out = fan_in_fan_out  # the checkpoint stores Conv1D (GPT-2) weights

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, use_cache=False).logits

    def encode(self, text: str) -> torch.Tensor:
        """Token ids of ``text`` (1-D LongTensor), without special tokens."""
        return torch.tensor(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)

    # The sizes the energy and memory estimates need, read from the config whatever its names.
    @property
    def config(self) -> Any:
        return self.model.config

    def _size(self, *names: str) -> int:
        for name in names:
            value = getattr(self.model.config, name, None)
            if value is not None:
                return int(value)
        raise AttributeError(f"config has none of {names}")

    @property
    def vocab_size(self) -> int:
        return self._size("vocab_size")

    @property
    def d_model(self) -> int:
        return self._size("hidden_size", "n_embd", "d_model")

    @property
    def n_layers(self) -> int:
        return self._size("num_hidden_layers", "n_layer", "num_layers")

    @property
    def n_heads(self) -> int:
        return self._size("num_attention_heads", "n_head")

    @property
    def d_ff(self) -> int:
        try:
            return self._size("intermediate_size", "n_inner", "ffn_dim")
        except AttributeError:
            return 4 * self.d_model  # GPT-2 leaves n_inner unset: 4 × hidden

    @property
    def max_positions(self) -> int:
        return self._size("max_position_embeddings", "n_positions")


def _read_config(src: Path) -> dict:
    file = src / "config.json"
    if not file.is_file():
        raise CheckpointError(src, "has no config.json; expected a directory written by save_pretrained")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(src, f"config.json is not valid JSON ({_one_line(error)})") from None
    if not isinstance(data, dict):
        raise CheckpointError(src, f"config.json holds a {type(data).__name__}; expected a JSON object")
    return data


def checkpoint_model_type(path: str | os.PathLike) -> str:
    """``model_type`` of a checkpoint directory (``tinylm`` for kernels' own), after the directory checks."""
    src = Path(path)
    if not src.exists():
        raise CheckpointError(src, "does not exist; expected a local directory written by save_pretrained")
    if not src.is_dir():
        raise CheckpointError(src, "is not a directory; expected a local directory written by save_pretrained")
    if not any(src.iterdir()):
        raise CheckpointError(src, "is empty; expected config.json, the weights and the tokenizer files")
    model_type = _read_config(src).get("model_type")
    if model_type != "tinylm" and model_type not in HF_MODEL_TYPES:
        raise CheckpointError(src, f"config.json has model_type={model_type!r}; expected one of "
                                   f"{', '.join(('tinylm',) + HF_MODEL_TYPES)}")
    return str(model_type)


def _read_weights(src: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError as error:  # pragma: no cover - the llm extra installs it
        raise CheckpointError(src, f"reading weights needs the safetensors package ({error})") from None
    files: list[Path]
    if (src / _SAFETENSORS).is_file():
        files = [src / _SAFETENSORS]
    elif (src / _INDEX).is_file():
        try:
            index = json.loads((src / _INDEX).read_text(encoding="utf-8"))
            files = [src / name for name in sorted(set(index["weight_map"].values()))]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
            raise CheckpointError(src, f"{_INDEX} is not a valid shard index ({_one_line(error)})") from None
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(src, f"{_INDEX} names missing shard {missing[0]}")
    elif (src / _PICKLE).is_file():
        try:  # a pickle: weights_only refuses anything but tensors, so no code runs
            state = load_tensors_only(src / _PICKLE)
        except ValueError as error:
            raise CheckpointError(src, f"{error}; expected tensors only (convert it to model.safetensors)") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(src, f"{_PICKLE} does not hold a mapping of names to tensors")
        return state
    else:
        raise CheckpointError(src, f"has no weights; expected {_SAFETENSORS}, {_INDEX} or {_PICKLE}")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        try:
            state.update(load_file(str(file)))
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointError(src, f"{file.name} is not a valid safetensors file ({_one_line(error)})") from None
    return state


def _match_state(src: Path, model: nn.Module, state: dict[str, torch.Tensor], model_type: str) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors renamed to the model's keys, checked name by name and shape by shape."""
    expected = model.state_dict()
    prefix = getattr(model, "base_model_prefix", "")
    if prefix and not set(state) & set(expected) and {f"{prefix}.{k}" for k in state} & set(expected):
        state = {f"{prefix}.{k}": v for k, v in state.items()}  # saved from the bare base model
    # Tied tensors (an LM head sharing the embedding) are saved once: missing twins are fine.
    ptr_of = {k: v.data_ptr() for k, v in expected.items()}
    present_ptrs = {ptr_of[k] for k in state if k in ptr_of}
    missing = [k for k in expected if k not in state and ptr_of[k] not in present_ptrs]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
        if unexpected:
            parts.append(f"unexpected {unexpected[0]}" + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""))
        raise CheckpointError(src, f"tensor names do not fit model_type={model_type!r}: {'; '.join(parts)}")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(src, f"tensor {key} has shape {tuple(value.shape)}; config.json implies "
                                       f"{tuple(expected[key].shape)}")
    return state


def _conv1d_to_linear(model: nn.Module) -> bool:
    """Replace GPT-2's Conv1D (y = x·W + b, W: d_in × d_out) by the equal nn.Linear; True if any."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover
        return False
    found = False
    for name, module in list(model.named_modules()):
        if isinstance(module, Conv1D):
            d_in, d_out = module.weight.shape
            linear = nn.Linear(d_in, d_out, bias=module.bias is not None)
            with torch.no_grad():
                linear.weight.copy_(module.weight.T)
                if module.bias is not None:
                    linear.bias.copy_(module.bias)
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, linear)
            found = True
    return found


def _load_tokenizer(src: Path, transformers: Any) -> Any:
    """The class ``tokenizer_config.json`` names (AutoTokenizer in transformers 5 may prefer the
    model type's default tokenizer over it, e.g. Qwen2's for a byte-level one), else AutoTokenizer."""
    try:
        named = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8")).get("tokenizer_class")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
        raise CheckpointError(src, f"tokenizer_config.json is not a valid JSON object ({_one_line(error)})") from None
    cls = None
    if isinstance(named, str):
        cls = getattr(transformers, named, None) or getattr(transformers, named.removesuffix("Fast"), None)
    try:
        tokenizer = (cls or transformers.AutoTokenizer).from_pretrained(str(src), local_files_only=True)
    except Exception as error:  # noqa: BLE001 - transformers raises many kinds; one line each
        raise CheckpointError(src, f"the tokenizer files cannot be loaded ({_one_line(error)})") from None
    if not tokenizer("a b", add_special_tokens=False)["input_ids"]:
        raise CheckpointError(src, f"the tokenizer ({type(tokenizer).__name__}) turns text into no tokens")
    return tokenizer


def load_causal_lm(path: str | os.PathLike) -> CausalLM:
    """The causal LM in local directory ``path`` (float32, eval mode) with its tokenizer."""
    src = Path(path)
    model_type = checkpoint_model_type(src)
    if model_type == "tinylm":
        raise CheckpointError(src, "is a TinyLM checkpoint; load it with kernels.load_pretrained")
    try:
        import transformers
    except ImportError as error:  # pragma: no cover - the llm extra installs it
        raise CheckpointError(src, f"model_type={model_type!r} needs transformers (pip install 'fedsim[llm]'): {error}") from None
    try:
        config = transformers.AutoConfig.from_pretrained(str(src), local_files_only=True)
    except Exception as error:  # noqa: BLE001 - transformers raises many kinds; one line each
        raise CheckpointError(src, f"config.json is not a valid {model_type} config ({_one_line(error)})") from None
    state = _read_weights(src)
    try:
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    except Exception as error:  # noqa: BLE001
        raise CheckpointError(src, f"config.json does not build a causal LM ({_one_line(error)})") from None
    state = _match_state(src, model, state, model_type)
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)
    model.tie_weights()
    if not (src / "tokenizer_config.json").is_file():
        raise CheckpointError(src, "has no tokenizer files (tokenizer_config.json); save the tokenizer "
                                   "into the same directory with tokenizer.save_pretrained")
    tokenizer = _load_tokenizer(src, transformers)
    if len(tokenizer) > config.vocab_size:
        raise CheckpointError(src, f"the tokenizer has {len(tokenizer)} tokens; the model's vocab_size is "
                                   f"{config.vocab_size}")
    model.config.use_cache = False
    fan_in_fan_out = _conv1d_to_linear(model)
    return CausalLM(model.eval(), tokenizer, fan_in_fan_out=fan_in_fan_out).eval()
