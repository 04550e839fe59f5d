"""``fedsim.run_flower_app``: bring an existing Flower app, get seconds and joules.

The app runs unchanged on a :class:`~fedsim.engine.WorldGrid`: its ``ServerApp`` drives the rounds
(e.g. Flower's own ``FedAvg.start``), its ``ClientApp`` trains in process, and every message is
priced by a fedsim World built from ``config`` (radio, access, devices, mobility, world, seed).

``fedsim run-app DIR`` reads a Flower app directory as ``flwr run`` does: the components of
``[tool.flwr.app.components]`` and the run config of ``[tool.flwr.app.config]`` (nested tables as
dotted keys), overridden by ``--run-config`` with Flower's own parsing (:func:`flower_app_dir`,
:func:`app_run_config`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from flwr.app import Context, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp

from .config import RunConfig
from .engine import WorldGrid
from .engine._world_grid import DEVICE_EXTRAS, EPOCHS_KEY, ROUND_EXTRAS
from .errors import ClientAppError, ConfigError, DataError, ModelDivergedError
from .federation import write_config
from .federation._finish import finish_run
from .ledger import Ledger
from .result import RunResult
from .workload import Workload

# The downlink of an app's messages is priced unless the config says otherwise: fedsim's defaults
# (radio.downlink_power_w null, devices.rx_power_w 0) model no downlink, which would make an app's
# broadcast free. These fill them when they are left unset: a macro base station's broadcast power
# (conf/radio/urban_macro.yaml) and a device receiver's draw (the value fedsim's tests use).
APP_DOWNLINK_POWER_W = 20.0
APP_RX_POWER_W = 0.05
DOWNLINK_KEYS = ("radio.downlink_power_w", "devices.rx_power_w")


class ServerAppError(RuntimeError):
    """The app's ServerApp raised (one line: its exception's type and first line)."""


@dataclasses.dataclass(frozen=True)
class FlowerAppDir:
    """What a Flower app directory's ``pyproject.toml`` says (``flwr run`` reads the same)."""

    directory: Path
    name: str
    server_app: str  # MODULE:OBJECT of [tool.flwr.app.components] serverapp
    client_app: str
    run_config: dict[str, Any]  # [tool.flwr.app.config], nested tables as dotted keys


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def flower_app_dir(directory: str | Path) -> FlowerAppDir:
    """Read a Flower app directory (its ``pyproject.toml``); a one-line ``ConfigError`` if it is
    not one."""
    import tomllib

    from flwr.common.config import flatten_dict

    directory = Path(directory).resolve()
    path = directory / "pyproject.toml"
    allowed = "a Flower app directory: a pyproject.toml with [tool.flwr.app.components] serverapp and clientapp"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise ConfigError("app", str(directory), allowed) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError("app", str(path), f"valid TOML ({_one_line(error)})") from None
    app = project.get("tool", {}).get("flwr", {}).get("app", {})
    components = app.get("components", {}) if isinstance(app, Mapping) else {}
    server, client = (components.get(k) if isinstance(components, Mapping) else None for k in ("serverapp", "clientapp"))
    if not isinstance(server, str) or not isinstance(client, str):
        raise ConfigError("app", str(directory), allowed)
    table = app.get("config", {})
    try:
        run_config = flatten_dict(table if isinstance(table, dict) else {"": table})
    except ValueError as error:
        raise ConfigError("[tool.flwr.app.config]", str(path), f"bool, int, float or str values and tables of them ({_one_line(error)})") from None
    name = project.get("project", {}).get("name") if isinstance(project.get("project"), Mapping) else None
    return FlowerAppDir(directory, str(name or directory.name), server, client, run_config)


def app_run_config(overrides: Iterable[str], defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The run config of ``--run-config`` arguments (each ``'k=v k2=v2'`` with TOML values, or one
    ``.toml`` file), parsed by Flower's own ``parse_config_args`` as ``flwr run --run-config`` does,
    over ``defaults`` (an app directory's ``[tool.flwr.app.config]``: then a key it lacks is an
    error, as under ``flwr run``)."""
    from flwr.common.config import fuse_dicts, parse_config_args

    overrides = [o for o in overrides]
    allowed = "space-separated key=value pairs with TOML values, e.g. 'num-server-rounds=3 lr=0.1 name=\"x\"', or one .toml file"
    try:
        parsed = parse_config_args(overrides or None)
    except Exception as error:  # noqa: BLE001 - Flower raises click's exception or a ValueError
        raise ConfigError("--run-config", " ".join(overrides), allowed) from error
    if defaults is None:
        return dict(parsed)
    unknown = sorted(set(parsed) - set(defaults))
    if unknown:
        raise ConfigError("--run-config", unknown[0], f"a key of [tool.flwr.app.config]: {', '.join(sorted(defaults)) or '(none)'}")
    return dict(fuse_dicts(dict(defaults), dict(parsed)))


def with_app_defaults(config: RunConfig, explicit: Iterable[str] = ()) -> RunConfig:
    """``config`` with the downlink priced: ``radio.downlink_power_w`` (when null) and
    ``devices.rx_power_w`` (when 0) get ``APP_DOWNLINK_POWER_W`` / ``APP_RX_POWER_W`` unless
    they are among the ``explicit`` keys (given by the user)."""
    explicit = set(explicit)
    radio, devices = config.radio, config.devices
    if "radio.downlink_power_w" not in explicit and radio.downlink_power_w is None:
        radio = dataclasses.replace(radio, downlink_power_w=APP_DOWNLINK_POWER_W)
    if "devices.rx_power_w" not in explicit and devices.rx_power_w == 0.0:
        devices = dataclasses.replace(devices, rx_power_w=APP_RX_POWER_W)
    if radio is config.radio and devices is config.devices:
        return config
    return dataclasses.replace(config, radio=radio, devices=devices)


def app_config(build: Callable[[int | None], RunConfig], given: Iterable[str] = ()) -> RunConfig:
    """The RunConfig ``build(devices_per_round)`` makes, where ``op.devices_per_round`` (unused
    under run-app: the app's strategy samples) follows a small ``world.num_devices`` unless the
    user gave it: ``fedsim run-app DIR world.num_devices=4`` must not fail over op's default 10."""
    try:
        return build(None)
    except ConfigError as error:
        over_op = error.key == "op.devices_per_round" or (error.key == "access.resource_blocks" and "op.devices_per_round" in error.allowed)
        if not over_op or "op.devices_per_round" in set(given):
            raise
    probe = build(1)  # the most devices_per_round may be: every device (one per block under ofdma)
    most = min(probe.world.num_devices, probe.access.resource_blocks) if probe.access.scheme == "ofdma" else probe.world.num_devices
    return probe if most == 1 else build(most)


def _mapping_keys(mapping: Mapping[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in mapping.items():
        keys.add(f"{prefix}{key}")
        if isinstance(value, Mapping):
            keys |= _mapping_keys(value, f"{prefix}{key}.")
    return keys


def _workload(config: RunConfig, model: Any, input_shape: tuple[int, ...] | None) -> Workload | Callable[[int], Workload] | None:
    """The app model's MACs per example: declared in devices.energy, measured from ``model``, or
    None: counted in the ClientApp's first call (``WorldGrid``). CMOS devices price compute from
    cycles per sample, so nothing needs counting there."""
    e = config.devices.energy
    if model is not None:
        if input_shape is None:
            raise ConfigError("input_shape", None, "the shape of one example (e.g. (1, 8, 8)) to measure the model")
        from .qnn import profile_model

        measured = profile_model(model, tuple(input_shape))
        return Workload(params=e.params or measured.params, macs=e.macs or measured.macs,
                        activations=e.activations or measured.activations, input_size=e.input_size or measured.input_size,
                        backward_macs=None if e.macs else measured.backward_macs)  # declared MACs: 2x forward backward
    if e.macs is None and config.devices.compute != "cmos":
        if importlib.util.find_spec("torch") is None:  # before any work: nothing could count them
            raise ConfigError("devices.energy.macs", None, "the MACs per example of the app's model (torch is not installed to count them)")
        return None
    macs = 1.0 if e.macs is None else e.macs  # cmos: unused by the compute model
    return lambda params: Workload(params=e.params or params, macs=macs, activations=e.activations or 1, input_size=e.input_size or 1)


def _macs_source(grid: WorldGrid, config: RunConfig, model: Any) -> str:
    """Where the MACs per example in summary.json come from."""
    if grid.measured:
        return "measured: " + grid.measured["split"]
    if model is not None:
        return "model"
    return "declared" if config.devices.energy.macs is not None else "unused (devices.compute=cmos)"


def _app_name(server_app: ServerApp) -> str:
    """The app's name from its ServerApp's module (its top-level package, as Flower's templates
    name the app)."""
    main = getattr(server_app, "_main", None)
    module = getattr(main, "__module__", None) or "flower_app"
    return module.split(".")[0] if module not in ("__main__", "") else "flower_app"


def run_flower_app(
    server_app: ServerApp,
    client_app: ClientApp,
    config: RunConfig | Mapping[str, Any] | None = None,
    output_dir: str | Path | None = None,
    *,
    run_config: Mapping[str, Any] | None = None,
    model: Any = None,
    input_shape: tuple[int, ...] | None = None,
    local_epochs: float | None = None,
    app_name: str | None = None,
) -> RunResult:
    """Run a Flower app in the wireless world; the ledger goes to ``output_dir``.

    ``config``: fedsim overrides (a mapping, or a RunConfig taken as given); ``run_config``: the
    app's own Flower run config, passed through. ``world.num_devices`` nodes run the ClientApp,
    partition ids 0..N-1 as Flower's simulation gives them. Flower's sampler uses Python's
    ``random``, which is seeded from ``seed`` (and restored afterwards), so the run is
    deterministic where the app is.

    The MACs per example are ``devices.energy.macs``, measured from ``model`` (with
    ``input_shape``), or else counted in the ClientApp's first train call (torch's
    FlopCounterMode; see ``fedsim.engine.WorldGrid``) divided by the examples it trained: its
    reply's ``num-examples`` times ``local_epochs`` (default: the run config's ``local-epochs``,
    Flower's templates' key, else 1; an instruction's own ``local-epochs`` config wins). A mapping
    ``config`` that leaves ``radio.downlink_power_w`` / ``devices.rx_power_w`` out gets the
    downlink priced (``with_app_defaults``). ``app_name`` (default: the ServerApp's package) titles
    the plots. Raises ``ConfigError`` (bad input, or MACs that cannot be counted: before anything
    is priced or written), ``ClientAppError`` (every ClientApp failed) or ``ServerAppError``.
    """
    explicit: set[str] = set(DOWNLINK_KEYS) if isinstance(config, RunConfig) else _mapping_keys(config or {})
    if not isinstance(config, RunConfig):
        mapping = dict(config or {})

        def build(devices_per_round: int | None) -> RunConfig:
            if devices_per_round is None:
                return RunConfig.from_mapping(mapping)
            op = mapping.get("op") if isinstance(mapping.get("op"), Mapping) else {}
            return RunConfig.from_mapping({**mapping, "op": {**op, "devices_per_round": devices_per_round}})

        config = app_config(build, explicit)
    return _run_flower_app(
        server_app, client_app, with_app_defaults(config, explicit), output_dir, run_config=run_config, model=model,
        input_shape=input_shape, local_epochs=local_epochs, app={"name": app_name or _app_name(server_app)},
    )


@contextmanager
def _seeded_globals(seed: int) -> Iterator[None]:
    """Python's, numpy's and torch's global generators seeded from ``seed`` while the app runs,
    and restored after: Flower's sampler draws from ``random``, and apps initialise their models
    and shuffle their data from the global generators, so the same seed gives the same ledger."""
    saved_python, saved_numpy = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:
        torch = None
    try:
        if torch is None:
            yield
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                yield
    finally:
        random.setstate(saved_python)
        np.random.set_state(saved_numpy)


def _run_flower_app(
    server_app: ServerApp,
    client_app: ClientApp,
    config: RunConfig,
    output_dir: str | Path | None,
    *,
    run_config: Mapping[str, Any] | None,
    model: Any,
    input_shape: tuple[int, ...] | None,
    local_epochs: float | None,
    app: Mapping[str, Any],
) -> RunResult:
    """``run_flower_app`` with ``config`` as it will run; ``app`` goes into summary.json."""
    if not isinstance(server_app, ServerApp):
        raise ConfigError("server_app", type(server_app).__name__, "a flwr.serverapp.ServerApp")
    if not isinstance(client_app, ClientApp):
        raise ConfigError("client_app", type(client_app).__name__, "a flwr.clientapp.ClientApp")
    app_config = dict(run_config or {})
    if local_epochs is None:
        epochs = app_config.get(EPOCHS_KEY, 1)
        local_epochs = epochs if isinstance(epochs, (int, float)) and not isinstance(epochs, bool) and epochs > 0 else 1
    elif isinstance(local_epochs, bool) or not isinstance(local_epochs, (int, float)) or not local_epochs > 0:
        raise ConfigError("local_epochs", local_epochs, "a number of local epochs > 0")
    workload = _workload(config, model, input_shape)  # before any work: a workload that cannot be had fails here
    started = time.perf_counter()
    out = Path(output_dir) if output_dir is not None else None
    ledger = Ledger(out, ROUND_EXTRAS, DEVICE_EXTRAS)
    grid = WorldGrid(
        client_app, config.world_config, app_config, seed=config.seed,
        workload=workload, ledger=ledger, local_epochs=local_epochs, handover=config.handover,
    )
    context = Context(run_id=grid.run.run_id, node_id=0, node_config={}, state=RecordDict(), run_config=app_config)
    try:
        with _seeded_globals(config.seed):
            server_app(grid, context)
    except (ConfigError, DataError, ClientAppError, ModelDivergedError):
        raise  # fedsim's own (e.g. MACs that cannot be counted): already one line
    except OSError as error:
        if getattr(error, "fedsim_ledger", False):
            raise  # the ledger could not be written: the caller's (one line: errors.os_error_line)
        raise ServerAppError(f"the ServerApp raised {_one_line(error)}") from error
    except Exception as error:
        everyone_failed = grid.first_client_error is not None and not any(r["delivered"] for r in ledger.devices)
        if everyone_failed:  # the ServerApp fell over what it did not get
            raise ClientAppError(
                f"every ClientApp failed, no update was aggregated; the first error: {grid.first_client_error} "
                f"(then the ServerApp raised {_one_line(error)})"
            ) from error
        hint = f" ({grid.train_replies_without_arrays} train replies carried no ArrayRecord)" if grid.train_replies_without_arrays else ""
        raise ServerAppError(f"the ServerApp raised {_one_line(error)}{hint}") from error
    if out is not None:
        write_config(config, out)
    w = grid.workload
    summary = finish_run(
        ledger, config.target_accuracy,
        {"seed": config.seed, "num_devices": config.world.num_devices, "access": config.access.scheme,
         "deadline_s": config.world.deadline_s, "engine": "world_grid", "wall_time_s": time.perf_counter() - started,
         "app": {**app, "run_config": app_config, "local_epochs": local_epochs},
         "message_batches": len(ledger.rounds),
         "macs_per_example": None if w is None else w.macs,
         "backward_macs_per_example": None if w is None else w.backward_macs_or_default,
         "macs_source": _macs_source(grid, config, model),
         "downlink_power_w": config.radio.downlink_power_w, "rx_power_w": config.devices.rx_power_w},
        output_dir=out, first_client_error=grid.first_client_error, what="server rounds",
    )
    return RunResult(summary, ledger.rounds, ledger.devices, out)
