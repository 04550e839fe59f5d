"""``fedsim.run_flower_app``: bring an existing Flower app, get seconds and joules.

The app runs unchanged on a :class:`~fedsim.engine.WorldGrid`: its ``ServerApp`` drives the rounds
(e.g. Flower's own ``FedAvg.start``), its ``ClientApp`` trains in process, and every message is
priced by a fedsim World built from ``config`` (radio, access, devices, mobility, world, seed).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flwr.app import Context, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp

from .config import RunConfig
from .engine import WorldGrid
from .engine._world_grid import DEVICE_EXTRAS, ROUND_EXTRAS
from .errors import ConfigError
from .federation import write_config
from .federation._finish import finish_run
from .ledger import Ledger
from .result import RunResult
from .workload import Workload


def _workload(config: RunConfig, model: Any, input_shape: tuple[int, ...] | None) -> Workload | None:
    """The app model's MACs per example: declared in devices.energy, or measured from ``model``."""
    e = config.devices.energy
    if model is not None:
        if input_shape is None:
            raise ConfigError("input_shape", None, "the shape of one example (e.g. (1, 8, 8)) to measure the model")
        from .qnn import profile_model

        measured = profile_model(model, tuple(input_shape))
        return Workload(params=e.params or measured.params, macs=e.macs or measured.macs,
                        activations=e.activations or measured.activations, input_size=e.input_size or measured.input_size)
    if e.macs is None:
        return None
    return Workload(params=e.params or 1, macs=e.macs, activations=e.activations or 1, input_size=e.input_size or 1)


def run_flower_app(
    server_app: ServerApp,
    client_app: ClientApp,
    config: RunConfig | Mapping[str, Any] | None = None,
    output_dir: str | Path | None = None,
    *,
    run_config: Mapping[str, Any] | None = None,
    model: Any = None,
    input_shape: tuple[int, ...] | None = None,
    local_epochs: int = 1,
) -> RunResult:
    """Run a Flower app in the wireless world; the ledger goes to ``output_dir``.

    ``config``: fedsim overrides (a mapping or a RunConfig); ``run_config``: the app's own Flower
    run config, passed through. ``world.num_devices`` nodes run the ClientApp, partition ids
    0..N-1 as Flower's simulation gives them. Flower's sampler uses Python's ``random``, which is
    seeded from ``seed`` (and restored afterwards), so the run is deterministic where the app is.
    """
    if not isinstance(server_app, ServerApp):
        raise ConfigError("server_app", type(server_app).__name__, "a flwr.serverapp.ServerApp")
    if not isinstance(client_app, ClientApp):
        raise ConfigError("client_app", type(client_app).__name__, "a flwr.clientapp.ClientApp")
    if not isinstance(config, RunConfig):
        config = RunConfig.from_mapping(config or {})
    started = time.perf_counter()
    out = Path(output_dir) if output_dir is not None else None
    ledger = Ledger(out, ROUND_EXTRAS, DEVICE_EXTRAS)
    app_config = dict(run_config or {})
    grid = WorldGrid(
        client_app, config.world_config, app_config, seed=config.seed,
        workload=_workload(config, model, input_shape), ledger=ledger, local_epochs=local_epochs, handover=config.handover,
    )
    context = Context(run_id=grid.run.run_id, node_id=0, node_config={}, state=RecordDict(), run_config=app_config)
    saved = random.getstate()
    random.seed(config.seed)
    try:
        server_app(grid, context)
    finally:
        random.setstate(saved)
    if out is not None:
        write_config(config, out)
    summary = finish_run(
        ledger, config.target_accuracy,
        {"seed": config.seed, "num_devices": config.world.num_devices, "access": config.access.scheme,
         "deadline_s": config.world.deadline_s, "engine": "world_grid", "wall_time_s": time.perf_counter() - started},
        output_dir=out, what="message batches",
    )
    return RunResult(summary, ledger.rounds, ledger.devices, out)
