"""The asynchronous server (``federation=fedasync|fedbuff``) on the event-driven world.

The server does not wait for rounds. Whenever fewer than ``federation.concurrency`` devices are
training, it sends the current global model to idle online devices (drawn from the
``(seed, "async-selection")`` stream); each trains through the same ClientApp (a Flower TRAIN
message, an m-bit update back) and the :class:`~fedsim.world.AsyncWorld` prices its download,
compute and an upload whose rate changes in flight. Arrivals are aggregated as they come:

- ``fedasync``: each delivered update moves the model at once,
  x <- x + mixing·s(τ)·((x_τ + Δ) - x), x_τ the version the device downloaded;
- ``fedbuff``: every ``buffer_size`` delivered updates, x <- x + server_lr·Σ w_k s(τ_k) Δ_k / Σ w_k
  (w_k the example counts).

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
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from ..errors import ClientAppError
from ..ledger import Column, DeviceRow, Ledger, RoundRow
from ..result import RunResult
from ..rng import numpy_stream
from ..uplink import decode_update
from ..world import AsyncWorld, Job, World
from ._progress import ProgressBar
from ._records import record_to_encoded, record_to_numpy
from ._task import Task
from .strategy import SUPERNODE_TIMEOUT_S, QuantizedFedAvg, client_error_line

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
        self.federation = task.config.federation
        self.events = AsyncWorld(world)
        # The synchronous strategy's device discovery maps partitions to Flower node ids.
        directory = QuantizedFedAvg(task, world, None, supernode_timeout_s=supernode_timeout_s)  # type: ignore[arg-type]
        directory.discover_devices(grid)
        self.node_of_device = directory.node_of_device
        self.first_client_error = directory.first_client_error
        self.failed: set[int] = set()  # devices whose ClientApp raised: never asked again
        self.rng = numpy_stream(self.cfg.seed, "async-selection")
        self.version = 0
        self.arrays = task.initial_record()
        self.versions: dict[int, ArrayRecord] = {0: self.arrays}  # the models jobs in flight downloaded
        self.replies: dict[int, RecordDict] = {}  # job -> its ClientApp reply
        self.buffer: list[tuple[list[np.ndarray], float, int]] = []  # (s(τ)·Δ, examples, τ)
        self.window: list[tuple[DeviceRow, dict[str, Any]]] = []  # completions since the last aggregation
        self.window_start_s = 0.0
        self.client_errors = 0

    # -- dispatch ------------------------------------------------------------------------------
    def fill(self) -> None:
        """Start jobs on idle online devices until ``concurrency`` are busy."""
        events, op = self.events, self.cfg.op
        idle = [d for d in events.idle_online().tolist() if d not in self.failed and d in self.node_of_device]
        while events.busy < self.cfg.concurrency and idle:
            device = idle.pop(int(self.rng.integers(len(idle))))
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
            weight = self.federation.staleness_weight(staleness)
            if self.federation.name == "fedasync":
                self._fedasync(job, delta, weight * self.federation.mixing, staleness)
            else:
                self.buffer.append(([weight * d for d in delta], float(metrics["num-examples"]), staleness))
                if len(self.buffer) >= self.federation.buffer_size:
                    self._fedbuff()
        if not any(j.version == job.version for j in self.events.jobs.values()) and job.version != self.version:
            self.versions.pop(job.version, None)

    def _fedasync(self, job: Job, delta: list[np.ndarray], alpha: float, staleness: int) -> None:
        keys = self.task.update_keys
        downloaded = record_to_numpy(self.versions[job.version], keys)
        now = record_to_numpy(self.arrays, keys)
        # (x_τ + Δ) - x: the device's model relative to the current one.
        step = [alpha * (old + d - cur) for old, d, cur in zip(downloaded, delta, now)]
        self._aggregated(self.task.aggregate(self.arrays, [step], [1.0])[0], [staleness])

    def _fedbuff(self) -> None:
        updates = [[self.federation.server_lr * d for d in delta] for delta, _, _ in self.buffer]
        new, _ = self.task.aggregate(self.arrays, updates, [w for _, w, _ in self.buffer])
        self._aggregated(new, [tau for _, _, tau in self.buffer])
        self.buffer = []

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
        energy = {p: sum(getattr(r, f"energy_{p}_j") for r in rows) for p in ("compute", "uplink", "download", "propulsion")}
        delivered = [r for r in rows if r.delivered]
        losses = [(r.train_loss, r.num_examples) for r in delivered if r.train_loss is not None]
        row = RoundRow(
            round=self.version, sim_time_s=now, round_time_s=now - self.window_start_s,
            energy_compute_j=energy["compute"], energy_uplink_j=energy["uplink"], energy_download_j=energy["download"],
            energy_round_j=energy["compute"] + energy["uplink"] + energy["download"], energy_cum_j=0.0,
            energy_propulsion_j=energy["propulsion"], test_accuracy=metrics["accuracy"], test_loss=metrics["loss"],
            selected=len(rows), delivered=len(delivered), uplink_bits=sum(r.payload_bits for r in delivered),
            train_loss=float(np.average([l for l, _ in losses], weights=[w for _, w in losses])) if losses else None,
        )
        extras = {**self.task.round_extras(metrics, {} if self.version else None),
                  "mean_staleness": float(np.mean(staleness)) if staleness else None}
        self.ledger.record_round(row, rows, extras=extras, device_extras=[extra for _, extra in self.window])
        self.window, self.window_start_s = [], now
        if self.version:
            self.bar.bar.update(1)
            self.bar.bar.set_postfix(acc=f"{metrics['accuracy']:.3f}", sim_s=f"{now:.3g}")

    def _row(self, job: Job, metrics: dict[str, Any]) -> DeviceRow:
        op = self.cfg.op
        return DeviceRow(
            round=self.version + 1, device=job.device, train_bits=job.train_bits, uplink_bits=op.uplink_bits,
            payload_bits=int(job.uplink_bits), local_iters=job.local_iters, num_examples=int(metrics["num-examples"]),
            tx_power_w=self.cfg.radio.tx_power_w, channel=job.device, download_s=job.download_s, compute_s=job.compute_s,
            upload_s=job.upload_s, finish_s=job.finish_s, energy_compute_j=job.energy_compute_j,
            energy_uplink_j=job.energy_uplink_j, energy_download_j=job.energy_download_j, energy_propulsion_j=0.0,
            channel_gain=job.channel_gain, distance_m=job.distance_m, delivered=job.delivered, drop_reason=job.drop_reason,
            battery_j=job.battery_j, x_m=float(job.position_m[0]), y_m=float(job.position_m[1]), z_m=float(job.position_m[2]),
            train_loss=float(metrics["train-loss"]),
        )

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
    """Run ``federation.rounds`` aggregations of an asynchronous federation; write the ledger."""
    import io

    import torch

    from .._atomic import atomic_write_bytes

    started = time.perf_counter()
    cfg = task.config
    ledger = Ledger(output_dir, task.round_columns + ASYNC_ROUND_COLUMNS, task.device_columns + ASYNC_DEVICE_COLUMNS)
    bar = ProgressBar(cfg.rounds, enabled=progress)
    from .server_app import quiet_flower_log

    try:
        with quiet_flower_log():
            server = AsyncServer(task, world, grid, ledger, bar, supernode_timeout_s)
            server.run()
    finally:
        bar.close()
    if not any(r["delivered"] for r in ledger.devices) and server.client_errors:
        raise ClientAppError(f"every ClientApp failed, no update was aggregated; the first error: {server.first_client_error}")
    summary = ledger.summary(cfg.target_accuracy, {
        "seed": cfg.seed, "op": dataclasses.asdict(cfg.op), "federation": dataclasses.asdict(cfg.federation),
        "availability": cfg.availability.kind, "num_devices": cfg.world.num_devices, "access": cfg.access.scheme,
        "drops": dict(sorted(Counter(r["drop_reason"] for r in ledger.devices if r["drop_reason"]).items())),
        "client_errors": server.client_errors, "device_events": server.events.events_processed,
        "dataset": cfg.dataset.name, "model": cfg.model.name, "workload": dataclasses.asdict(task.workload),
        **task.summary_extra(), "wall_time_s": time.perf_counter() - started,
    })
    final_state = server.arrays.to_torch_state_dict()
    if output_dir is not None:
        buffer = io.BytesIO()
        torch.save(final_state, buffer)
        atomic_write_bytes(output_dir / "model.pt", buffer.getvalue())
        summary["artifacts"] = task.write_artifacts(server.arrays, output_dir)
    ledger.write_summary(summary)
    return RunResult(summary, ledger.rounds, ledger.devices, output_dir, final_state, {})
