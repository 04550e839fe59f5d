"""The asynchronous server (``strategy=fedasync|fedbuff``) on the event-driven world.

The server does not wait for rounds. Whenever fewer than ``strategy.concurrency`` devices are
training, it sends the current global model to the idle online device the policy picks
(``Policy.pick_idle``: uniformly from the ``(seed, "async-selection")`` stream for ``fixed`` and
``random``, the strongest expected link for ``best_channel``, in turn for ``round_robin``); each trains through the same ClientApp (a Flower TRAIN
message, an m-bit update back) and the :class:`~fedsim.world.AsyncWorld` prices its download,
compute and an upload whose rate changes in flight. Arrivals go to the strategy's aggregation
rule as they come (``fedsim.strategies.fedasync``, ``fedsim.strategies.fedbuff``), which says
when a new global model version exists.

Each aggregation is one ``rounds.csv`` row (``round`` = the new model version, ``sim_time_s``
from the world's clock) carrying the device rows that completed since the previous one; devices.csv
adds ``staleness`` (versions between download and arrival), ``model_version`` (the version the
device trained from) and ``rate_changes`` (rate recomputations of its upload in flight).

Messages are pushed and pulled one job at a time through the Grid: the in-process engine answers
at once; the README says what Flower's own runtimes can do with it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from ..control import build_policy
from ..ledger import Column, DeviceRow, Ledger
from ..result import RunResult
from ..rng import numpy_stream
from ..strategies import build_strategy
from ..tasks import Task
from ..tasks._records import record_to_encoded
from ..tracking import open_tracker
from ..uplink import decode_update
from ..world import AsyncWorld, Job, World
from ._client_errors import client_error_line
from ._finish import drop_counts, finish_run
from ._progress import ProgressBar
from ._rows import device_row_of_job, example_weighted_loss, round_row, rows_energy
from ._wireless import SUPERNODE_TIMEOUT_S, WirelessStrategy, quiet_flower_log

ASYNC_DEVICE_COLUMNS = (
    Column("staleness", "server versions between the device's download and its arrival"),
    Column("model_version", "the global model version the device trained from"),
    Column("rate_changes", "times the upload's rate was recomputed while in flight"),
)
ASYNC_ROUND_COLUMNS = (Column("mean_staleness", "mean staleness of the updates aggregated"),)


class AsyncServer:
    """One asynchronous run: dispatch, advance the event world, aggregate, record."""

    def __init__(self, task: Task, world: World, grid: Grid, ledger: Ledger, bar: ProgressBar, supernode_timeout_s: float) -> None:
        self.task, self.cfg, self.grid, self.ledger, self.bar = task, task.config, grid, ledger, bar
        self.rule = build_strategy(self.cfg.strategy.name, self.cfg.strategy.params, self.cfg)
        self.policy = build_policy(self.cfg)
        self.events = AsyncWorld(world)
        # The wireless seam's device discovery maps partitions to Flower node ids.
        directory = WirelessStrategy(self.rule, task, world, None, supernode_timeout_s=supernode_timeout_s)
        directory.discover_devices(grid)
        self.node_of_device = directory.node_of_device
        self.first_client_error = directory.first_client_error
        self.failed: set[int] = set()  # devices whose ClientApp raised: never asked again
        self.rng = numpy_stream(self.cfg.seed, "async-selection")
        self.version = 0
        self.arrays = task.initial_record()
        self.versions: dict[int, ArrayRecord] = {0: self.arrays}  # the models jobs in flight downloaded
        self.replies: dict[int, RecordDict] = {}  # job -> its ClientApp reply
        self.window: list[tuple[DeviceRow, dict[str, Any]]] = []  # completions since the last aggregation
        self.window_start_s = 0.0
        self.client_errors = 0

    # -- dispatch ------------------------------------------------------------------------------
    def fill(self) -> None:
        """Start jobs on idle online devices until ``concurrency`` are busy."""
        events, op = self.events, self.cfg.op
        idle = [d for d in events.idle_online().tolist() if d not in self.failed and d in self.node_of_device]
        while events.busy < self.cfg.concurrency and idle:
            pick = self.policy.pick_idle(idle, self.rng, events.expected_rate_bps)  # the control plane's choice
            if pick is None:
                break
            device = idle.pop(pick)
            dispatch = events.dispatched + 1
            config = ConfigRecord({
                "server-round": dispatch, "device": device, "train-bits": op.train_bits, "uplink-bits": op.uplink_bits,
                "local-iters": op.local_iters, "devices-per-round": self.cfg.concurrency,
            })
            message = Message(RecordDict({"arrays": self.arrays, "config": config}), dst_node_id=self.node_of_device[device],
                              message_type=MessageType.TRAIN, group_id=str(dispatch))
            reply = list(self.grid.send_and_receive([message]))[0]
            if reply.has_error():
                self.failed.add(device)
                self.client_errors += 1
                if self.first_client_error is None:
                    self.first_client_error = client_error_line(str(reply.error.reason))
                continue
            job = events.dispatch(device, local_iters=op.local_iters, train_bits=op.train_bits,
                                  uplink_bits=float(reply.content["metrics"]["payload-bits"]),
                                  downlink_bits=self.task.downlink_bits, version=self.version)
            self.replies[job.job] = reply.content

    # -- arrivals ------------------------------------------------------------------------------
    def complete(self, job: Job) -> None:
        content = self.replies.pop(job.job)
        metrics = dict(content["metrics"])
        staleness = self.version - job.version
        self.window.append((self._row(job, metrics), {
            **self.task.device_extras(metrics), "staleness": staleness, "model_version": job.version, "rate_changes": job.rate_changes,
        }))
        if job.delivered:
            encoded = record_to_encoded(content["update"], self.cfg.op.uplink_bits)
            delta = decode_update(encoded, self.task.update_shapes)
            new = self.rule.arrive(self.task, self.arrays, self.versions[job.version], delta, float(metrics["num-examples"]), staleness)
            if new is not None:
                self._aggregated(*new)
        if not any(j.version == job.version for j in self.events.jobs.values()) and job.version != self.version:
            self.versions.pop(job.version, None)

    def _aggregated(self, arrays: ArrayRecord, staleness: list[int]) -> None:
        self.version += 1
        self.arrays = self.versions[self.version] = arrays
        self.record(staleness)

    # -- the ledger ----------------------------------------------------------------------------
    def record(self, staleness: list[int] | None) -> None:
        """One rounds.csv row for the aggregation that made ``self.version`` (0: the initial model)."""
        now = self.events.now_s
        metrics = self.task.evaluate(self.arrays, self.cfg.op)
        rows = [row for row, _ in self.window]
        energy = rows_energy(rows)
        losses = [(r.train_loss, r.num_examples) for r in rows if r.delivered and r.train_loss is not None]
        row = round_row(
            self.version, sim_time_s=now, round_time_s=now - self.window_start_s, energy_j=energy,
            energy_round_j=energy["compute"] + energy["uplink"] + energy["download"], metrics=metrics, rows=rows,
            train_loss=example_weighted_loss(losses),
        )
        extras = {**self.task.round_extras(metrics, {} if self.version else None),
                  "mean_staleness": float(np.mean(staleness)) if staleness else None}
        self.ledger.record_round(row, rows, extras=extras, device_extras=[extra for _, extra in self.window])
        self.window, self.window_start_s = [], now
        if self.version:
            self.bar.bar.update(1)
            self.bar.bar.set_postfix(acc=f"{metrics['accuracy']:.3f}", sim_s=f"{now:.3g}")

    def _row(self, job: Job, metrics: dict[str, Any]) -> DeviceRow:
        return device_row_of_job(job, server_round=self.version + 1, uplink_bits=self.cfg.op.uplink_bits, num_examples=int(metrics["num-examples"]),
                                 tx_power_w=self.cfg.radio.tx_power_w, train_loss=float(metrics["train-loss"]))

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> None:
        self.record(None)  # version 0: the initial model at t = 0
        while self.version < self.cfg.rounds:
            self.fill()
            if not self.events.pending_events or len(self.failed) == len(self.node_of_device):
                break  # nobody is training and no device will ever come online (or every one failed)
            job = self.events.advance()
            if job is not None:
                self.complete(job)


def run_async_federation(
    grid: Grid, task: Task, world: World, *, output_dir: Path | None, progress: bool, supernode_timeout_s: float = SUPERNODE_TIMEOUT_S
) -> RunResult:
    """Run ``rounds`` aggregations of an asynchronous federation; write the ledger."""
    started = time.perf_counter()
    cfg = task.config
    ledger = Ledger(output_dir, task.round_columns + ASYNC_ROUND_COLUMNS, task.device_columns + ASYNC_DEVICE_COLUMNS)
    tracker = open_tracker(cfg.to_dict(), output_dir)
    if tracker is not None:
        ledger.listeners.append(tracker.log_round)
    bar = ProgressBar(cfg.rounds, enabled=progress)
    try:
        with quiet_flower_log():
            server = AsyncServer(task, world, grid, ledger, bar, supernode_timeout_s)
            server.run()
    finally:
        bar.close()
    summary = finish_run(ledger, cfg.target_accuracy, {
        "seed": cfg.seed, "op": dataclasses.asdict(cfg.op), "strategy": {"name": cfg.strategy.name, **dataclasses.asdict(cfg.strategy.params)},
        "availability": cfg.availability.kind, "num_devices": cfg.world.num_devices, "access": cfg.access.scheme,
        "drops": drop_counts(ledger.devices), "client_errors": server.client_errors, "device_events": server.events.events_processed,
        "dataset": cfg.dataset.name, "model": cfg.model.name, "workload": dataclasses.asdict(task.workload),
        **task.summary_extra(), "wall_time_s": time.perf_counter() - started,
    }, output_dir=output_dir, task=task, final_arrays=server.arrays, first_client_error=server.first_client_error, what="aggregations", tracker=tracker)
    return RunResult(summary, ledger.rounds, ledger.devices, output_dir, server.arrays.to_torch_state_dict(), {})
