"""``fedsim.run``: the one entry point for a federated run (like ``pymoo.optimize.minimize``), and
``fedsim.resume``, which continues a killed one from its run directory."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from flwr.app import Context, RecordDict

from .config import RunConfig
from .engine import CohortGrid, InProcessGrid
from .errors import ConfigError, DataError
from ._run_lock import LOCK_FILE, RUN_DIR_HOLDS_A_RUN, clear_run, holds_a_run, run_directory_lock
from .federation import config_to_run_config, run_federation, task_from_run_config, write_config
from .federation._checkpoint import CHECKPOINT_FILE, Checkpoint, load_checkpoint
from .federation.client_app import app as client_app
from .ledger import CONFIG_FILE, SUMMARY_FILE
from .result import RunResult


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config dict as dotted keys (``op.train_bits``), to name the key that differs."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: list(value) if isinstance(value, tuple) else value}


def _resumable(run_dir: Path) -> tuple[RunConfig, Checkpoint]:
    """The configuration and checkpoint of an unfinished run directory, or a ConfigError saying
    why it cannot be resumed (one line: the file or key, its value, what would do)."""
    config_path, summary_path = run_dir / CONFIG_FILE, run_dir / SUMMARY_FILE
    if not config_path.is_file():
        raise ConfigError("run_dir", str(run_dir), f"a run directory written by fedsim run (no {CONFIG_FILE} there)")
    if summary_path.is_file():
        raise ConfigError("run_dir", str(run_dir), f"an unfinished run ({SUMMARY_FILE} is there: this run finished)")
    try:
        mapping = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(str(config_path), "unparsable YAML", f"YAML as fedsim run wrote it ({type(error).__name__})") from None
    except OSError as error:
        raise ConfigError(str(config_path), "unreadable", f"a file this user can read ({error.strerror})") from None
    try:
        config, unread = RunConfig.from_mapping(mapping), None
    except ConfigError as error:
        if error.key != "policy.choice_path":
            raise ConfigError(error.key, error.value, f"{error.allowed} (in {config_path})") from None
        # The chosen point is in the checkpoint (policy=optimized): its choice.json may be gone.
        config, unread = RunConfig.from_mapping({**mapping, "policy": {**mapping["policy"], "choice_path": None}}), error
        config.policy = dataclasses.replace(config.policy, choice_path=mapping["policy"]["choice_path"])
    checkpoint_path = run_dir / CHECKPOINT_FILE
    if not checkpoint_path.is_file():
        raise ConfigError("checkpoint", str(checkpoint_path), "a checkpoint, which fedsim run writes after every round, or every aggregation of fedasync and fedbuff "
                          "(none here, so nothing to continue: start the run again)")
    try:
        checkpoint = load_checkpoint(checkpoint_path)
    except ValueError as error:
        raise ConfigError("checkpoint", str(checkpoint_path), str(error)) from None
    if unread is not None and "point" not in checkpoint.policy:  # checkpointed before the point was chosen
        raise ConfigError(unread.key, unread.value, f"{unread.allowed} (in {config_path})")
    now, then = _flat(config.to_dict()), _flat(checkpoint.config)
    changed = next((key for key in sorted(now.keys() | then.keys()) if now.get(key) != then.get(key)), None)
    if changed is not None:
        raise ConfigError(changed, now.get(changed), f"{then.get(changed)!r}, its value when the run was checkpointed ({config_path} was edited)")
    for name, length in checkpoint.ledger_bytes.items():
        size = (run_dir / name).stat().st_size if (run_dir / name).is_file() else 0
        if size < length:
            raise ConfigError(str(run_dir / name), f"{size} bytes", f"at least the {length} bytes the checkpoint of round {checkpoint.round} recorded")
    return config, checkpoint


def resume(output_dir: str | Path, *, progress: bool = False) -> RunResult:
    """Continue a killed run from its last completed round (``fedsim resume DIR``).

    The run directory's ``config.yaml`` must still validate and match the checkpoint; its CSVs are
    truncated back to the checkpoint's round, and the rounds after it run as the uninterrupted run
    would have: ``rounds.csv``, ``devices.csv`` and ``summary.json`` (but its ``wall_time_s``)
    come out byte-identical. A finished run, or one with no checkpoint, is a ConfigError.
    """
    out = Path(output_dir)
    _resumable(out)  # its one-line error before the lock: a refused resume leaves no lock file behind
    with run_directory_lock(out):  # a second resume (or a run) of the same directory is refused
        config, checkpoint = _resumable(out)
        run_config = config_to_run_config(config)
        task_from_run_config(run_config).prepare()
        return _federate(config, run_config, out, progress, checkpoint)


def run(config: RunConfig | Mapping[str, Any] | None = None, output_dir: str | Path | None = None, *, progress: bool = False,
        overwrite: bool = False) -> RunResult:
    """Run one federated experiment on the in-process engine.

    ``config`` is a ``RunConfig`` or a (nested) mapping of overrides of its defaults.
    With ``output_dir`` the resolved ``config.yaml``, ``rounds.csv``, ``devices.csv``,
    ``summary.json`` and ``model.pt`` are written there, by this process alone (see
    ``fedsim._run_lock``); a directory that already holds a run is refused unless ``overwrite``.
    """
    if not isinstance(config, RunConfig):
        config = RunConfig.from_mapping(config or {})
    run_config = config_to_run_config(config)
    # Load (and so validate) the data before anything is written: a missing dataset path must
    # not leave a run directory that looks started. The job is cached, so clients reuse it.
    task_from_run_config(run_config).prepare()
    if output_dir is None:
        return _federate(config, run_config, None, progress)
    out = Path(output_dir)
    made = not out.exists()
    try:
        with run_directory_lock(out):
            if holds_a_run(out):
                if not overwrite:
                    raise ConfigError("run_dir", str(out), RUN_DIR_HOLDS_A_RUN)
                clear_run(out)
            write_config(config, out)
            try:
                return _federate(config, run_config, out, progress)
            except (ConfigError, DataError):  # refused once the run met its World (a swarm's energy budget)
                clear_run(out)  # this run's files only: the directory held no run (checked above)
                raise
    except (ConfigError, DataError):
        if made:  # nothing of a refused run stays behind, not even the directory its lock made
            (out / LOCK_FILE).unlink(missing_ok=True)
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()
        raise


def _federate(config: RunConfig, run_config: dict, out: Path | None, progress: bool, resume_from: Checkpoint | None = None) -> RunResult:
    """The rounds of ``config`` on the in-process engine (``engine=cohort``: its cohort mode),
    from the start or after a checkpoint."""
    engine = CohortGrid if config.engine == "cohort" else InProcessGrid
    grid = engine(client_app, config.world.num_devices, run_config, seed=config.seed)
    server_context = Context(run_id=grid.run.run_id, node_id=0, node_config={}, state=RecordDict(), run_config=run_config)
    return run_federation(grid, server_context, output_dir=out, progress=progress, resume_from=resume_from)
