"""PEP 562 lazy exports: a package's public names are imported on first use, not at import.

``import fedsim.world`` then costs numpy and simpy only, and ``import fedsim.config`` does not
pull torch, flwr or pymoo through a package ``__init__`` that merely lists what it offers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` whose ``exports`` map a public name to the
    submodule (relative, e.g. ``"._run"``) that defines it, or to ``"module:attribute"`` where the
    public name is an alias. An alias must not be the name of a submodule: importing that
    submodule would bind its name on the package and shadow the alias."""

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = module.partition(":")
        value = getattr(importlib.import_module(module, package), attribute or name)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value  # cache: the next lookup does not come back here
        return value

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(exports))

    return __getattr__, __dir__
