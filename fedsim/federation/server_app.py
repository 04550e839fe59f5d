"""The fedsim ServerApp: builds the world, the policy and the strategy, runs the rounds; the ledger is
written by a round-end callback."""

from __future__ import annotations

import dataclasses
import io
from contextlib import contextmanager
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from flwr.app import ArrayRecord, Context
from flwr.serverapp import Grid, ServerApp

from .._atomic import atomic_write_bytes
from ..control import assign_handover, build_policy
from ..errors import ClientAppError, ModelDivergedError
from ..ledger import Ledger
from ..result import RunResult
from ..world import CLIENT_ERROR, World
from ._async_federation import run_async_federation
from ._checkpoint import CHECKPOINT_FILE, Checkpoint, global_generators, save_checkpoint, set_global_generators
from ._flower_config import SUPERNODE_TIMEOUT_KEY, output_dir_of
from ._job import config_from_run_config, task_from_run_config
from ._ledger_writer import LedgerWriter
from ._progress import ProgressBar
from ._task import Task
from .strategy import SUPERNODE_TIMEOUT_S, QuantizedFedAvg

app = ServerApp()


@contextmanager
def quiet_flower_log():
    """Silence Flower's INFO/WARNING log: the progress bar and the ledger replace its round log
    (and its note that federated evaluation is off, which is fedsim's choice: the server evaluates)."""
    logger = logging.getLogger("flwr")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def build_world(task: Task) -> World:
    """The World of a task's run configuration, pricing the task's own workload."""
    cfg = task.config
    world = World(cfg.world_config, task.workload_parts, cfg.seed)
    if world.drones is not None:  # cellular drones: the configured handover rule serves them
        assign_handover(world, cfg.handover)
    return world


def run_federation(
    grid: Grid, context: Context, *, output_dir: Path | None, progress: bool = True, resume_from: Checkpoint | None = None
) -> RunResult:
    """Run the configured rounds on ``grid``; write the ledger into ``output_dir``, and a
    checkpoint there after every round. ``resume_from``: continue after that checkpoint's round
    (the run directory's ledger is truncated back to it)."""
    started = time.perf_counter()
    task = task_from_run_config(context.run_config)
    cfg = task.config
    world = build_world(task)
    if cfg.federation.asynchronous:  # no rounds: the event-driven world's server (issue 17)
        timeout_s = float(context.run_config.get(SUPERNODE_TIMEOUT_KEY, SUPERNODE_TIMEOUT_S))
        return run_async_federation(grid, task, world, output_dir=output_dir, progress=progress, supernode_timeout_s=timeout_s)
    policy = build_policy(cfg)
    policy.start(world, upload_params=task.upload_params)  # on the initial world, as the first attempt did
    if resume_from is None:
        ledger = Ledger(output_dir, task.round_columns, task.device_columns)
        first_round, initial_arrays, earlier_wall_s = 0, task.initial_record(), 0.0
    else:
        ledger = Ledger.reopen(output_dir, resume_from.ledger_bytes, task.round_columns, task.device_columns)
        world.load_state_dict(resume_from.world)
        policy.load_state_dict(resume_from.policy)
        first_round, earlier_wall_s = resume_from.round + 1, resume_from.wall_time_s
        initial_arrays = ArrayRecord(torch_state_dict=resume_from.arrays)
    bar = ProgressBar(cfg.rounds, enabled=progress, done=max(first_round - 1, 0))
    with quiet_flower_log():
        strategy = QuantizedFedAvg(
            task,
            world,
            policy,
            callbacks=[LedgerWriter(ledger, task), bar],
            supernode_timeout_s=float(context.run_config.get(SUPERNODE_TIMEOUT_KEY, SUPERNODE_TIMEOUT_S)),
        )

        def checkpoint(server_round: int, arrays: ArrayRecord) -> None:
            save_checkpoint(output_dir, Checkpoint(
                round=server_round, config=cfg.to_dict(), arrays=arrays.to_torch_state_dict(), strategy=strategy.state_dict(),
                policy=policy.state_dict(), world=world.state_dict(), ledger_bytes=ledger.byte_lengths,
                generators=global_generators(), wall_time_s=earlier_wall_s + time.perf_counter() - started,
            ))

        if resume_from is not None:
            strategy.load_state_dict(resume_from.strategy)
            set_global_generators(resume_from.generators)  # last: building the run may draw from them
        try:
            result = strategy.start(
                grid,
                initial_arrays=initial_arrays,
                num_rounds=cfg.rounds,
                evaluate_fn=strategy.evaluate_global,
                first_round=first_round,
                after_round=None if output_dir is None else checkpoint,
            )
        finally:
            bar.close()

    rows = ledger.devices
    if rows and all(r["drop_reason"] == CLIENT_ERROR for r in rows):
        # Nothing was ever aggregated: a summary would look like a run that learned nothing.
        raise ClientAppError(f"every ClientApp failed, no update was aggregated; the first error: {strategy.first_client_error}")
    diverged = strategy.diverged_round
    if not any(r["delivered"] for r in rows):  # summary.json's delivered_updates is 0
        # Physics starved the run (every upload late, lost or dropped): it finishes, loudly.
        print(f"fedsim: warning: no update was delivered in {cfg.rounds} rounds (drops: {_drops(rows)}); "
              "the global model is the initial one", file=sys.stderr)
    final_state = result.arrays.to_torch_state_dict()
    summary = ledger.summary(
        cfg.target_accuracy,
        {
            "seed": cfg.seed,
            "op": dataclasses.asdict(cfg.op),
            "policy": cfg.policy.name,
            "num_devices": cfg.world.num_devices,
            "access": cfg.access.scheme,
            "deadline_s": cfg.world.deadline_s,
            "drops": _drops(rows),
            **({} if diverged is None else {"stopped": "model_diverged", "stopped_round": diverged}),
            "dataset": cfg.dataset.name,
            "model": cfg.model.name,
            "workload": dataclasses.asdict(task.workload),
            **task.summary_extra(),
            "wall_time_s": earlier_wall_s + time.perf_counter() - started,  # every attempt's computing
        },
    )
    if output_dir is not None and diverged is None:  # a non-finite model is no artifact
        buffer = io.BytesIO()
        torch.save(final_state, buffer)
        atomic_write_bytes(output_dir / "model.pt", buffer.getvalue())
        summary["artifacts"] = task.write_artifacts(result.arrays, output_dir)
    ledger.write_summary(summary)  # last: its presence marks a complete run
    if output_dir is not None:
        (output_dir / CHECKPOINT_FILE).unlink(missing_ok=True)  # a finished run resumes nothing
    if diverged is not None:
        raise ModelDivergedError(
            f"the global model became non-finite (NaN/inf) in round {diverged}; the run stopped there "
            f"(train.lr={cfg.train.lr:g}: try a smaller one); ledger and summary.json record it"
        )
    return RunResult(summary, ledger.rounds, ledger.devices, output_dir, final_state, policy.state_dict())


def _drops(rows: list[dict]) -> dict[str, int]:
    """How many uploads each drop reason cost, by reason."""
    return dict(sorted(Counter(r["drop_reason"] for r in rows if r["drop_reason"]).items()))


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Entry point under Flower's own runtimes (``flwr run``): as ``fedsim run`` does, the
    configuration (composed from the run config) is validated and the data loaded before
    ``config.yaml`` and the ledger are written into ``output-dir``."""
    from .._run import write_config

    config = config_from_run_config(context.run_config)
    output_dir = output_dir_of(context.run_config)
    task_from_run_config(context.run_config).prepare()
    write_config(config, output_dir)
    run_federation(grid, context, output_dir=output_dir, progress=False)
