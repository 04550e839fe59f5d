"""The ``strategy`` section: which federated algorithm runs (``strategy=NAME``) and its own keys.

The section's keys are every registered strategy's ``Params`` fields (``fedsim.strategies``),
unset (null) unless the chosen strategy takes them; a key that only another strategy takes is
named in a one-line warning (a sweep over strategies may set it), and one that no strategy
takes is an error. ``params`` is the chosen strategy's validated ``Params``.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from .._checks import check_choice
from .._warn import warn_once
from ..strategies import STRATEGY_NAMES, StrategyParams, strategy_module

DEFAULT_STRATEGY = "fedavg"


def _key_fields() -> dict[str, tuple[Any, set[str]]]:
    """Every strategy key: its type and the strategies that take it (a key means one thing)."""
    keys: dict[str, tuple[Any, set[str]]] = {}
    for name in STRATEGY_NAMES:
        params = strategy_module(name).Params
        hints = typing.get_type_hints(params)
        for f in dataclasses.fields(params):
            kind = hints[f.name]
            if f.name in keys and keys[f.name][0] != kind:
                raise TypeError(f"strategy key {f.name!r} has two types: {keys[f.name][0]} and {kind}")
            keys.setdefault(f.name, (kind, set()))[1].add(name)
    return keys


STRATEGY_KEYS = _key_fields()


def _post_init(self) -> None:
    check_choice("name", self.name, STRATEGY_NAMES)
    module = strategy_module(self.name)
    own = {f.name for f in dataclasses.fields(module.Params)}
    given = {}
    for key, (_, takers) in STRATEGY_KEYS.items():
        value = getattr(self, key)
        if value is None:
            continue
        if key in own:
            given[key] = value
        else:
            warn_once(f"strategy.{key}={value!r} has no effect with strategy={self.name} (a key of {', '.join(sorted(takers))})")
    object.__setattr__(self, "_params", module.Params(**given))


def _params(self) -> StrategyParams:
    """The chosen strategy's own validated keys."""
    return self._params


def _asynchronous(self) -> bool:
    """Whether the chosen algorithm runs on the event-driven world (its declared property)."""
    return bool(strategy_module(self.name).ASYNCHRONOUS)


StrategyConfig = dataclasses.make_dataclass(
    "StrategyConfig",
    [("name", str, dataclasses.field(default=DEFAULT_STRATEGY))]
    + [(key, kind | None, dataclasses.field(default=None)) for key, (kind, _) in STRATEGY_KEYS.items()],
    namespace={
        "__post_init__": _post_init,
        "params": property(_params),
        "asynchronous": property(_asynchronous),
        "__doc__": __doc__,
    },
    frozen=True,
)
StrategyConfig.__module__ = __name__


def strategy_defaults(name: str) -> dict[str, Any]:
    """The config node of ``strategy=name``: its name and its own keys at their defaults."""
    return {"name": name, **dataclasses.asdict(strategy_module(name).Params())}


