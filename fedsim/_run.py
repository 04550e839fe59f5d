"""``fedsim.run``: the one entry point for a federated run (like ``pymoo.optimize.minimize``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from flwr.app import Context, RecordDict

from ._atomic import atomic_write_text
from .config import RunConfig
from .engine import InProcessGrid
from .federation import config_to_run_config, run_federation, task_from_run_config
from .federation.client_app import app as client_app
from .result import RunResult


def write_config(config: RunConfig, output_dir: Path) -> Path:
    """The resolved, validated configuration as ``output_dir/config.yaml`` (atomically)."""
    return atomic_write_text(Path(output_dir) / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))


def run(config: RunConfig | Mapping[str, Any] | None = None, output_dir: str | Path | None = None, *, progress: bool = False) -> RunResult:
    """Run one federated experiment on the in-process engine.

    ``config`` is a :class:`RunConfig` or a (nested) mapping of overrides of its defaults.
    With ``output_dir`` the resolved ``config.yaml``, ``rounds.csv``, ``devices.csv``,
    ``summary.json`` and ``model.pt`` are written there.
    """
    if not isinstance(config, RunConfig):
        config = RunConfig.from_mapping(config or {})
    run_config = config_to_run_config(config)
    # Load (and so validate) the data before anything is written: a missing dataset path must
    # not leave a run directory that looks started. The job is cached, so clients reuse it.
    task_from_run_config(run_config).prepare()
    out = Path(output_dir) if output_dir is not None else None
    if out is not None:
        write_config(config, out)
    grid = InProcessGrid(client_app, config.world.num_devices, run_config, seed=config.seed)
    server_context = Context(run_id=grid.run.run_id, node_id=0, node_config={}, state=RecordDict(), run_config=run_config)
    return run_federation(grid, server_context, output_dir=out, progress=progress)
