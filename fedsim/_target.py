"""What a ``MODULE:ATTR`` config value names: a user's model, policy or channel model.

``model.target``, ``policy.target`` and ``radio.path_loss_target`` name code of the user's,
imported from the installed packages or from the directory the command runs in. Everything that
can go wrong while importing it is a one-line ConfigError on the key that named it.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigError


def import_target(key: str, target: Any, form: str) -> Any:
    """The object ``target`` ("module:attr", attr may be dotted) names; ``form`` is what ``key``
    allows (shown when ``target`` is not of that form or cannot be imported)."""
    if not isinstance(target, str):
        raise ConfigError(key, target, form)
    module_name, _, attr = target.partition(":")
    parts = attr.split(".")
    if not all(p.isidentifier() for p in [*module_name.split("."), *parts]):
        raise ConfigError(key, target, form)
    if "" not in sys.path:
        sys.path.append("")  # the user's module may live where the command runs (searched last)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - ImportError, or whatever the module raised on import
        raise ConfigError(key, target, f"an importable module ({type(error).__name__}: {one_line(error)})") from None
    for depth, part in enumerate(parts):
        if not hasattr(obj, part):
            raise ConfigError(key, target, f"an attribute of {module_name} ({'.'.join(parts[:depth + 1])} does not exist)")
        obj = getattr(obj, part)
    return obj


def keyword_arguments(key: str, kwargs: Any, target_key: str, example: str) -> dict[str, Any] | None:
    """A ``*.kwargs`` value (the keyword arguments of what ``target_key`` names): a mapping with
    string keys, as a dict, None when empty (Hydra merges no new keys into an empty mapping)."""
    if kwargs is None:
        return None
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise ConfigError(key, kwargs, f"a mapping of the keyword arguments of {target_key}, e.g. {example}")
    return dict(kwargs) or None


def keyword_names(function: Callable[..., Any]) -> set[str]:
    """Parameter names ``function`` accepts by keyword (none known when it has no signature)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return set()
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {name for name, p in signature.parameters.items() if p.kind in keyword}


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or "no message"
