"""The vocabulary of fedsim.qnn (torch-free, so the config can validate against it)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError

FULL_PRECISION_BITS = 32  # n = 32 means float: no quantization
ROUNDING_MODES = ("nearest", "stochastic")
CUSTOM_MODEL = "custom"  # any nn.Module factory: model.target=MODULE:FACTORY, model.kwargs={...}
# Quantized classifiers of build_model. char_lstm reads token ids; the others images (C, H, W)
# (mlp also flat features (D,)).
MODELS = ("mlp", "cnn", "qcnn5", "cifar_cnn", "resnet8", "resnet20", "char_lstm", CUSTOM_MODEL)
TOKEN_MODELS = ("char_lstm",)
TARGET_FORM = "MODULE:FACTORY naming an nn.Module class or a function returning one (e.g. mypkg.models:Net)"


def load_target(key: str, target: Any) -> Callable[..., Any]:
    """The callable ``target`` ("module:attr", attr may be dotted) names, imported from the
    installed packages or the current directory; a ConfigError on ``key`` says why not."""
    if not isinstance(target, str):
        raise ConfigError(key, target, TARGET_FORM)
    module_name, _, attr = target.partition(":")
    parts = attr.split(".")
    if not all(p.isidentifier() for p in [*module_name.split("."), *parts]):
        raise ConfigError(key, target, TARGET_FORM)
    if "" not in sys.path:
        sys.path.append("")  # the user's module may live where the command runs (searched last)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - ImportError, or whatever the module raised on import
        raise ConfigError(key, target, f"an importable module ({type(error).__name__}: {_one_line(error)})") from None
    for depth, part in enumerate(parts):
        if not hasattr(obj, part):
            raise ConfigError(key, target, f"an attribute of {module_name} ({'.'.join(parts[:depth + 1])} does not exist)")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(key, target, f"a callable: an nn.Module class or a function returning one, not a {type(obj).__name__}")
    return obj


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or "no message"
