"""The fedsim ServerApp: builds the world, the policy and the strategy, runs the rounds; the ledger is
written by a round-end callback. Under ``flwr run`` each round is also logged in one line (round,
accuracy, energy, simulated time, drops) through Flower's logger."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
from flwr.app import ArrayRecord, Context
from flwr.serverapp import Grid, ServerApp

from .._atomic import write_behind
from .._run_lock import holds_a_run, run_directory_lock
from ..config import RunConfig
from ..errors import ConfigError
from ..control import assign_handover, build_policy
from .._gc import frozen_heap
from .._torch_threads import choose_torch_threads, cpu_share, torch_threads
from ..ledger import DRONE_DEVICE_COLUMNS, Ledger
from ..result import RunResult
from ..strategies import build_strategy, strategy_module
from ..tasks import Task
from ..world import World
from ._async_server import run_async_federation
from ._checkpoint import Checkpoint, global_generators, save_checkpoint, set_global_generators
from ._config_file import write_config
from ._finish import drop_counts, finish_run
from ._flower_config import SUPERNODE_TIMEOUT_KEY, output_dir_of
from ._job import config_from_run_config, task_from_run_config
from ._ledger_writer import LedgerWriter
from ._resume import open_run_record
from ._wireless import SUPERNODE_TIMEOUT_S, WirelessStrategy, quiet_flower_log

app = ServerApp()


def build_world(task: Task) -> World:
    """The World of a task's run configuration, pricing the task's own workload."""
    cfg = task.config
    world = World(cfg.world_config, task.workload_parts, cfg.seed)
    if world.drones is not None:  # cellular drones: the configured handover rule serves them
        assign_handover(world, cfg.handover)
    return world


def drone_link_extras(world: World):
    """The round's DRONE_DEVICE_COLUMNS of each selected drone: the serving cell its upload
    started on, and the handovers and radio-link failures of its flight during the round."""
    drones = world.drones

    def extras(outcome) -> list[dict]:
        handovers, failures = drones.link_events(outcome.devices, outcome.start_s, outcome.start_s + outcome.duration_s)
        return [
            {"serving_cell": int(drones.serving_cells(float(start_s))[device]), "handovers": int(h), "rlf": int(f)}
            for device, start_s, h, f in zip(outcome.devices, outcome.upload_start_s, handovers, failures)
        ]

    return extras


def build_wireless_strategy(task: Task, world: World, policy, callbacks=(), *, supernode_timeout_s: float = SUPERNODE_TIMEOUT_S) -> WirelessStrategy:
    """The configured strategy (``strategy=NAME``) behind the wireless seam."""
    cfg: RunConfig = task.config
    module = strategy_module(cfg.strategy.name)
    train_config = module.train_config(cfg.strategy.params) if hasattr(module, "train_config") else {}
    with quiet_flower_log():  # Flower's strategies log their construction notes
        inner = build_strategy(cfg.strategy.name, cfg.strategy.params, cfg)
    return WirelessStrategy(inner, task, world, policy, callbacks, train_config=train_config, supernode_timeout_s=supernode_timeout_s)


def run_federation(
    grid: Grid, context: Context, *, output_dir: Path | None, progress: bool = True, resume_from: Checkpoint | None = None,
    round_log: bool = False,
) -> RunResult:
    """Run the configured rounds on ``grid``; write the ledger into ``output_dir``, and a
    checkpoint there after every round (every aggregation of an asynchronous strategy).
    ``resume_from``: continue after that checkpoint's round (the run directory's ledger is
    truncated back to it). ``round_log``: one line per round through Flower's logger (round,
    accuracy, energy, simulated time, drops). Torch's threads are chosen for the run
    (``fedsim._torch_threads``)."""
    task = task_from_run_config(context.run_config)
    cfg = task.config
    timeout_s = float(context.run_config.get(SUPERNODE_TIMEOUT_KEY, SUPERNODE_TIMEOUT_S))
    step_macs = cfg.train.batch_size * task.workload.training_macs
    share = cpu_share()
    if cfg.engine == "cohort":  # its step trains the round's clients at once
        step_macs *= cfg.op.devices_per_round
    threads = choose_torch_threads(cfg.torch_threads, step_macs, share)
    if cfg.engine == "cohort" and cfg.torch_threads is None and share >= 2:
        # One core draws the cohort's next step while this one computes (fedsim.tasks._cohort_training)
        threads = min(threads, share - 1)
    # write_behind: the per-round ledger and checkpoint fsyncs run on a thread, in order.
    # frozen_heap: the rounds' collections scan only what the rounds make (fedsim._gc).
    with torch_threads(threads), write_behind(), frozen_heap():
        return _run_federation(grid, task, output_dir, progress, resume_from, timeout_s, round_log)


def _run_federation(grid: Grid, task: Task, output_dir: Path | None, progress: bool, resume_from: Checkpoint | None,
                    timeout_s: float, round_log: bool = False) -> RunResult:
    started = time.perf_counter()
    cfg = task.config
    world = build_world(task)
    if cfg.strategy.asynchronous:  # no rounds: the event-driven world's server
        return run_async_federation(grid, task, world, output_dir=output_dir, progress=progress, supernode_timeout_s=timeout_s,
                                    resume_from=resume_from, round_log=round_log)
    policy = build_policy(cfg)
    if resume_from is not None:  # first: a checkpointed choice is kept, not made again (policy=optimized)
        policy.load_state_dict(resume_from.policy)
    policy.start(world, upload_params=task.upload_params)  # on the initial world, as the first attempt did
    record = open_run_record(task, output_dir, resume_from, progress=progress, round_columns=task.round_columns,
                             device_columns=task.device_columns + (DRONE_DEVICE_COLUMNS if world.drones is not None else ()),
                             round_log=round_log)
    ledger: Ledger = record.ledger
    tracker, bar, first_round, earlier_wall_s = record.tracker, record.bar, record.first_round, record.earlier_wall_s
    if resume_from is None:
        initial_arrays = task.initial_record()
    else:
        world.load_state_dict(resume_from.world)
        initial_arrays = ArrayRecord(torch_state_dict=resume_from.arrays)
    with quiet_flower_log():
        writer = LedgerWriter(ledger, task, drone_link_extras(world) if world.drones is not None else None)
        strategy = build_wireless_strategy(task, world, policy, [writer, bar], supernode_timeout_s=timeout_s)

        config_dict = cfg.to_dict()  # the run's config does not change between rounds

        def checkpoint(server_round: int, arrays: ArrayRecord) -> None:
            save_checkpoint(output_dir, Checkpoint(
                round=server_round, config=config_dict, arrays=arrays.to_torch_state_dict(), strategy=strategy.state_dict(),
                policy=policy.state_dict(), world=world.state_dict(), ledger_bytes=ledger.byte_lengths,
                generators=global_generators(), wall_time_s=earlier_wall_s + time.perf_counter() - started,
                clients=grid.client_states() if hasattr(grid, "client_states") else {},
            ))

        if resume_from is not None:
            strategy.load_state_dict(resume_from.strategy)
            if resume_from.clients and hasattr(grid, "load_client_states"):
                grid.load_client_states(resume_from.clients)
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
        except Exception:
            bar.erase()  # the error's one line is what stays on the terminal
            raise
        finally:
            bar.close()

    summary = finish_run(
        ledger, cfg.target_accuracy,
        {
            "seed": cfg.seed,
            "op": dataclasses.asdict(policy.operating_point),  # what was trained (policy=optimized: its chosen point)
            "policy": cfg.policy.name,
            "strategy": {"name": cfg.strategy.name, **dataclasses.asdict(cfg.strategy.params)},
            "num_devices": cfg.world.num_devices,
            "access": cfg.access.scheme,
            "deadline_s": cfg.world.deadline_s,
            "drops": drop_counts(ledger.devices),
            "dataset": cfg.dataset.name,
            "model": cfg.model.name,
            "workload": dataclasses.asdict(task.workload),
            **task.summary_extra(),
            "torch_threads": torch.get_num_threads(),  # chosen for the run (fedsim._torch_threads)
            "wall_time_s": earlier_wall_s + time.perf_counter() - started,  # every attempt's computing
        },
        output_dir=output_dir, task=task, final_arrays=result.arrays, first_client_error=strategy.first_client_error,
        diverged_round=strategy.diverged_round, diverged_hint=f" (train.lr={cfg.train.lr:g}: try a smaller one)", tracker=tracker,
    )
    return RunResult(summary, ledger.rounds, ledger.devices, output_dir, result.arrays.to_torch_state_dict(), policy.state_dict())


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Entry point under Flower's own runtimes (``flwr run``): as ``fedsim run`` does, the
    configuration (composed from the run config) is validated and the data loaded before
    ``config.yaml`` and the ledger are written into ``output-dir``."""
    config = config_from_run_config(context.run_config)
    output_dir = output_dir_of(context.run_config)
    task_from_run_config(context.run_config).prepare()
    # One writer per run directory, as for fedsim run: a second flwr run into it, or one into a
    # directory that already holds a run, is refused before anything is written.
    with run_directory_lock(output_dir):
        if holds_a_run(output_dir):
            raise ConfigError("output-dir", str(output_dir), "a directory that holds no run yet (fedsim resume continues one)")
        write_config(config, output_dir)
        # No terminal for a progress bar here: a log line per round, which `flwr run --stream` shows.
        run_federation(grid, context, output_dir=output_dir, progress=False, round_log=True)
