"""A fedsim configuration from the run config of Flower's own runtimes (``flwr run .``).

``pyproject.toml`` declares the keys (``[tool.flwr.app.config]``); Flower rejects undeclared ones
at ``flwr run`` and fills the rest with their declared defaults. ``overrides`` is the command line
``fedsim run`` takes (scenario included), each flat key (``rounds``, ``op.train_bits``, ...) that
is set is one more Hydra override after it, and ``output-dir`` is the ledger's directory. Every
process (the ServerApp, each ClientApp) composes the same configuration from the same run config.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError

OVERRIDES_KEY = "overrides"
OUTPUT_DIR_KEY = "output-dir"
SUPERNODE_TIMEOUT_KEY = "supernode-timeout-s"  # how long the ServerApp waits for the SuperNodes
UNSET = ""  # a flat key's declared default: TOML has no null
_NOT_OVERRIDES = (OVERRIDES_KEY, OUTPUT_DIR_KEY, SUPERNODE_TIMEOUT_KEY)


def _hydra_value(value: bool | int | float | str) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def hydra_overrides(run_config: Mapping[str, bool | int | float | str]) -> tuple[str, ...]:
    """The ``fedsim run`` overrides a Flower run config stands for."""
    if OVERRIDES_KEY not in run_config:
        raise ConfigError(
            OVERRIDES_KEY, None, "a run config key declared in [tool.flwr.app.config] (fedsim's pyproject.toml declares it)"
        )
    raw = str(run_config[OVERRIDES_KEY])
    try:
        overrides = shlex.split(raw)
    except ValueError as error:
        raise ConfigError(OVERRIDES_KEY, raw, f"space-separated key=value overrides ({error})") from None
    for key, value in sorted(run_config.items()):
        if key not in _NOT_OVERRIDES and value != UNSET:
            overrides.append(f"{key}={_hydra_value(value)}")
    return tuple(overrides)


def compose_overrides(overrides: tuple[str, ...]) -> dict:
    """The validated configuration of ``fedsim run OVERRIDES``, as a plain mapping; Hydra's own
    errors become one line naming the overrides."""
    from hydra.errors import HydraException

    from .._compose import compose

    try:
        return compose(list(overrides)).to_dict()
    except HydraException as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(OVERRIDES_KEY, " ".join(overrides), f"overrides that fedsim run accepts ({first_line})") from None


def output_dir_of(run_config: Mapping[str, bool | int | float | str]) -> Path:
    """The ledger's directory: required, and absolute, because the ServerApp runs in a process of
    the SuperLink whose working directory is not the caller's."""
    value = str(run_config.get(OUTPUT_DIR_KEY, UNSET))
    if value == UNSET or not Path(value).expanduser().is_absolute():
        raise ConfigError(
            OUTPUT_DIR_KEY, value, "an absolute directory for the ledger, e.g. --run-config 'output-dir=\"/abs/path/run1\"'"
        )
    return Path(value).expanduser()
