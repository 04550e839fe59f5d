"""``policy=custom``: a policy class of the user's, named ``policy.target=MODULE:CLASS``.

The class is a subclass of :class:`~fedsim.control.Policy` in any importable module (or one in
the directory the command runs in). It is built as ``CLASS(policy_config, run, **policy.kwargs)``
and then runs exactly as a built-in does: ``check_run`` when the configuration is validated,
``start`` before round 1, ``decide`` every round, ``state_dict`` in every checkpoint, and
``pick_idle`` under fedasync / fedbuff when its ``DISPATCHES`` is True. Everything that can go
wrong before the first round is a one-line ConfigError on ``policy.target`` or ``policy.kwargs``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from fedsim._target import import_target, one_line
from fedsim.control._policy import Policy
from fedsim.errors import ConfigError

TARGET_FORM = "MODULE:CLASS naming a subclass of fedsim.control.Policy (e.g. my_policy:GreedyEnergy)"


def custom_policy_class(target: Any, key: str = "policy.target") -> type[Policy]:
    """The Policy subclass ``target`` names, imported and checked (a ConfigError on ``key``)."""
    cls = import_target(key, target, TARGET_FORM)
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        what = cls.__name__ if isinstance(cls, type) else type(cls).__name__
        raise ConfigError(key, target, f"a subclass of fedsim.control.Policy, not {'the class ' if isinstance(cls, type) else 'a '}{what}")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise ConfigError(key, target, f"a Policy subclass that defines {missing} (the class {cls.__name__} does not)")
    return cls


def check_policy_kwargs(cls: type[Policy], kwargs: Mapping[str, Any], key: str = "policy.kwargs") -> None:
    """``kwargs`` must bind to ``cls(config, run, **kwargs)``: a misspelled keyword stops the run
    before any work, not at the first round."""
    try:
        inspect.signature(cls).bind(None, None, **kwargs)
    except TypeError as error:
        raise ConfigError(key, dict(kwargs), f"keyword arguments {cls.__name__}(config, run, ...) accepts ({one_line(error)})") from None
    except ValueError:  # no signature to read: the constructor says so when it is called
        pass
