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

As in synchronous rounds, the server checks every decoded update and excludes a non-finite one
(``nonfinite_update``); a global model that turns non-finite stops the run (``model_diverged``);
a ClientApp that raised is a ``client_error`` row (no time, no energy: the job never started) and
its device may be dispatched again later, with the faults of its new dispatch. A run that cannot
reach its aggregations (nobody training and nobody coming online or waking again, every device's
ClientApp failing since the last dispatch that worked, or no usable update in as many jobs as the
synchronous run of the same rounds would train, at least 100) ends early with a warning and
``stopped`` in summary.json, and fails when it aggregated nothing. After the initial model and
every aggregation the run is checkpointed (the event world, the models in flight and their
replies, the strategy's buffer, the selection stream): ``fedsim resume`` continues it to the
uninterrupted run's ledger.

Messages are pushed and pulled one job at a time through the Grid: the in-process engine answers
at once; the README says what Flower's own runtimes can do with it.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid

from ..control import build_policy
from ..errors import NothingAggregatedError
from ..ledger import Column, DeviceRow, Ledger
from ..result import RunResult
from ..rng import numpy_stream
from ..strategies import build_strategy
from ..tasks import Task
from ..tasks._records import array_to_numpy, record_to_encoded
from ..uplink import decode_update
from ..world import CLIENT_ERROR, NONFINITE_UPDATE, AsyncWorld, Job, World
from ..world._state import generator_state, set_generator_state
from ._checkpoint import Checkpoint, global_generators, save_checkpoint, set_global_generators
from ._client_errors import client_error_line
from ._finish import drop_counts, finish_run
from ._progress import ProgressBar
from ._resume import open_run_record
from ._rows import device_row_of_job, example_weighted_loss, round_row, rows_energy
from ._wireless import SUPERNODE_TIMEOUT_S, WirelessStrategy, all_finite, quiet_flower_log, record_finite

ASYNC_DEVICE_COLUMNS = (
    Column("staleness", "server versions between the device's download and its arrival"),
    Column("model_version", "the global model version the device trained from"),
    Column("rate_changes", "times the upload's rate was recomputed while in flight"),
)
ASYNC_ROUND_COLUMNS = (Column("mean_staleness", "mean staleness of the updates aggregated"),)
# summary.json's ``stopped`` of an early end: every ClientApp failing, nobody left to train, or no
# usable update in as many jobs as the synchronous run of the same rounds would train (at least 100).
EVERY_CLIENT_FAILED, NO_DEVICE_LEFT, STARVED = "every_client_failed", "no_device_left", "starved"
STARVED_AFTER_MIN = 100


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
        self.failing: set[int] = set()  # devices whose ClientApp raised since the last dispatch that worked
        self.attempts = 0  # dispatches tried, failed ones too: each one's server-round (its faults' stream)
        self.rng = numpy_stream(self.cfg.seed, "async-selection")
        self.version = 0
        self.arrays = task.initial_record()
        self.versions: dict[int, ArrayRecord] = {0: self.arrays}  # the models jobs in flight downloaded
        self.replies: dict[int, RecordDict] = {}  # job -> its ClientApp reply
        self.window: list[tuple[DeviceRow, dict[str, Any]]] = []  # completions since the last aggregation
        self.window_start_s = 0.0
        self.client_errors = 0
        self.fruitless = 0  # jobs since the last update the strategy took (failed, lost, dropped or non-finite)
        self.starved_after = max(self.cfg.rounds * self.cfg.concurrency, STARVED_AFTER_MIN)
        self.diverged_round: int | None = None  # the aggregation whose global model became non-finite
        self.stopped: str | None = None  # why the run ended before its aggregations (None: it did not)

    # -- dispatch ------------------------------------------------------------------------------
    def fill(self) -> None:
        """Start jobs on idle online devices until ``concurrency`` are busy. A device whose
        ClientApp fails is not asked again in this call; a later one may pick it."""
        events, op = self.events, self.cfg.op
        idle = [d for d in events.idle_online().tolist() if d in self.node_of_device]
        while events.busy < self.cfg.concurrency and idle:
            pick = self.policy.pick_idle(idle, self.rng, events.expected_rate_bps)  # the control plane's choice
            if pick is None:
                break
            device = idle.pop(pick)
            self.attempts += 1
            dispatch = self.attempts
            config = ConfigRecord({
                "server-round": dispatch, "device": device, "train-bits": op.train_bits, "uplink-bits": op.uplink_bits,
                "local-iters": op.local_iters, "devices-per-round": self.cfg.concurrency,
            })
            message = Message(RecordDict({"arrays": self.arrays, "config": config}), dst_node_id=self.node_of_device[device],
                              message_type=MessageType.TRAIN, group_id=str(dispatch))
            reply = list(self.grid.send_and_receive([message]))[0]
            if reply.has_error():
                self._client_error(device, reply)
                continue
            self.failing.clear()
            job = events.dispatch(device, local_iters=op.local_iters, train_bits=op.train_bits,
                                  uplink_bits=float(reply.content["metrics"]["payload-bits"]),
                                  downlink_bits=self.task.downlink_bits, version=self.version)
            self.replies[job.job] = reply.content

    def _client_error(self, device: int, reply: Message) -> None:
        """A ClientApp that raised: a ``client_error`` row; its device stays idle, free to be picked again."""
        self.client_errors += 1
        self.fruitless += 1
        self.failing.add(device)
        if self.first_client_error is None:
            self.first_client_error = client_error_line(str(reply.error.reason))
        op = self.cfg.op
        self._note(self.events.refused(device, local_iters=op.local_iters, train_bits=op.train_bits, version=self.version, reason=CLIENT_ERROR), {})

    # -- arrivals ------------------------------------------------------------------------------
    def complete(self, job: Job) -> None:
        content = self.replies.pop(job.job)
        metrics = dict(content["metrics"])
        row = self._note(job, metrics)
        self.fruitless += 1
        if job.delivered:
            delta = decode_update(record_to_encoded(content["update"], self.cfg.op.uplink_bits), self.task.update_shapes)
            if not all_finite(delta):  # a diverged (or poisoned) client: its NaN/inf must never reach the global model
                row.delivered, row.drop_reason = False, NONFINITE_UPDATE
            else:
                self.fruitless = 0
                new = self.rule.arrive(self.task, self.arrays, self.versions[job.version], delta, float(metrics["num-examples"]),
                                       self.version - job.version)
                if new is not None:
                    self._aggregated(*new)
        if not any(j.version == job.version for j in self.events.jobs.values()) and job.version != self.version:
            self.versions.pop(job.version, None)

    def _aggregated(self, arrays: ArrayRecord, staleness: list[int]) -> None:
        self.version += 1
        self.arrays = self.versions[self.version] = arrays
        if not record_finite(arrays):
            self.diverged_round = self.version  # recorded, then the run stops
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

    def _note(self, job: Job, metrics: dict[str, Any]) -> DeviceRow:
        """A finished job's row (``metrics`` empty: its ClientApp failed), into the window."""
        row = device_row_of_job(job, server_round=self.version + 1, uplink_bits=self.cfg.op.uplink_bits,
                                num_examples=int(metrics["num-examples"]) if metrics else None, tx_power_w=self.cfg.radio.tx_power_w,
                                train_loss=float(metrics["train-loss"]) if metrics else None)
        self.window.append((row, {**self.task.device_extras(metrics), "staleness": self.version - job.version, "model_version": job.version,
                                  "rate_changes": job.rate_changes}))
        return row

    # -- the run -------------------------------------------------------------------------------
    def run(self, after_aggregation: Callable[[], None] | None = None) -> None:
        """Aggregate until ``rounds`` versions exist, the model diverges or the world runs out
        (``stopped``); ``after_aggregation()`` runs once each aggregation is recorded (to
        checkpoint it: the run resumes at the top of this loop)."""
        while self.version < self.cfg.rounds and self.diverged_round is None:
            if self.fruitless >= self.starved_after:
                self.stopped = STARVED
                break
            self.fill()
            if not self.events.busy:
                if self.failing.issuperset(self.node_of_device):
                    self.stopped = EVERY_CLIENT_FAILED
                    break
                if not self.events.pending_events:
                    self.stopped = NO_DEVICE_LEFT  # nobody is training and no device will ever come online
                    break
            job = self.events.advance()
            if job is None:
                continue
            version = self.version
            self.complete(job)
            if self.version != version and self.diverged_round is None and after_aggregation is not None:
                after_aggregation()

    def why_stopped(self) -> str:
        """One phrase: why the run ended before its aggregations."""
        if self.stopped == EVERY_CLIENT_FAILED:
            return f"every device's ClientApp failed since the last dispatch that worked (the first error: {self.first_client_error})"
        if self.stopped == STARVED:
            drops = dict(sorted(Counter(row.drop_reason for row, _ in self.window if row.drop_reason).items()))
            return f"none of the last {self.fruitless} jobs delivered an update to aggregate (drops since the last aggregation: {drops})"
        events, n = self.events, self.cfg.world.num_devices
        asleep, offline = int(events.asleep.sum()), int((~events.online & ~events.asleep).sum())
        left = [f"{asleep} sleep on an empty battery that nothing recharges"] if asleep else []
        left += [f"{offline} are offline for good"] if offline else []
        left += [f"the policy dispatches none of the other {n - asleep - offline}"] if n - asleep - offline else []
        return f"no device is training and none can start again (of {n} devices, {', '.join(left)})"

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self, output_dir: Path, ledger: Ledger, wall_time_s: float) -> None:
        """Write ``checkpoint.pt`` at the top of the run loop: right after an aggregation (or the
        initial model) is recorded, so the window of completions is empty."""
        assert not self.window, "a checkpoint between aggregations"
        save_checkpoint(output_dir, Checkpoint(
            round=self.version, config=self.cfg.to_dict(), arrays=self.arrays.to_torch_state_dict(), strategy=self.state_dict(),
            policy=self.policy.state_dict(), world=self.events.state_dict(), ledger_bytes=ledger.byte_lengths,
            generators=global_generators(), wall_time_s=wall_time_s,
        ))

    def state_dict(self) -> dict[str, Any]:
        """The server's side of a checkpoint: the strategy's state (FedBuff's buffer), the models
        jobs in flight downloaded (the current one is the checkpoint's arrays), their ClientApp
        replies, the selection stream and the counters."""
        return {
            "rule": self.rule.state_dict(),
            "versions": {v: a.to_torch_state_dict() for v, a in self.versions.items() if v != self.version},
            "replies": {job: _content_state(content) for job, content in self.replies.items()},
            "rng": generator_state(self.rng),
            "window_start_s": self.window_start_s,
            "client_errors": self.client_errors,
            "first_client_error": self.first_client_error,
            "attempts": self.attempts,
            "fruitless": self.fruitless,
            "failing": sorted(self.failing),
        }

    def resume(self, checkpoint: Checkpoint) -> None:
        """Continue from ``checkpoint`` (this server built as the first attempt's was)."""
        state = checkpoint.strategy
        self.rule.load_state_dict(state["rule"])
        self.policy.load_state_dict(checkpoint.policy)
        self.events.load_state_dict(checkpoint.world)
        self.version = checkpoint.round
        self.arrays = ArrayRecord(torch_state_dict=checkpoint.arrays)
        self.versions = {int(v): ArrayRecord(torch_state_dict=a) for v, a in state["versions"].items()}
        self.versions[self.version] = self.arrays
        self.replies = {int(job): _content_of_state(content) for job, content in state["replies"].items()}
        set_generator_state(self.rng, state["rng"], "async-selection")
        self.window_start_s, self.client_errors, self.attempts = state["window_start_s"], state["client_errors"], state["attempts"]
        self.first_client_error = state["first_client_error"]
        self.failing, self.fruitless = set(state["failing"]), state["fruitless"]


def _content_state(content: RecordDict) -> dict[str, dict[str, Any]]:
    """A ClientApp reply's records as plain values: arrays as numpy, metrics and configs as dicts."""
    return {
        "arrays": {name: {k: array_to_numpy(a) for k, a in record.items()} for name, record in content.array_records.items()},
        "metrics": {name: dict(record) for name, record in content.metric_records.items()},
        "configs": {name: dict(record) for name, record in content.config_records.items()},
    }


def _content_of_state(state: dict[str, dict[str, Any]]) -> RecordDict:
    records: dict[str, Any] = {name: ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in arrays.items()}) for name, arrays in state["arrays"].items()}
    records.update({name: MetricRecord(dict(values)) for name, values in state["metrics"].items()})
    records.update({name: ConfigRecord(dict(values)) for name, values in state["configs"].items()})
    return RecordDict(records)


def run_async_federation(
    grid: Grid, task: Task, world: World, *, output_dir: Path | None, progress: bool, supernode_timeout_s: float = SUPERNODE_TIMEOUT_S,
    resume_from: Checkpoint | None = None, round_log: bool = False,
) -> RunResult:
    """Run ``rounds`` aggregations of an asynchronous federation; write the ledger (and a
    checkpoint after every aggregation). ``resume_from``: continue after that checkpoint;
    ``round_log``: a log line per aggregation (see ``open_run_record``)."""
    started = time.perf_counter()
    cfg = task.config
    record = open_run_record(task, output_dir, resume_from, progress=progress, round_columns=task.round_columns + ASYNC_ROUND_COLUMNS,
                             device_columns=task.device_columns + ASYNC_DEVICE_COLUMNS, round_log=round_log)
    ledger, tracker, bar = record.ledger, record.tracker, record.bar

    def wall_time_s() -> float:  # every attempt's computing
        return record.earlier_wall_s + time.perf_counter() - started

    try:
        with quiet_flower_log():
            server = AsyncServer(task, world, grid, ledger, bar, supernode_timeout_s)
            checkpoint = None if output_dir is None else lambda: server.checkpoint(output_dir, ledger, wall_time_s())
            if resume_from is None:
                server.record(None)  # version 0: the initial model at t = 0
                if checkpoint is not None:
                    checkpoint()
            else:
                server.resume(resume_from)
                set_global_generators(resume_from.generators)  # last: building the run may draw from them
            server.run(after_aggregation=checkpoint)
        if server.stopped is not None and server.version == 0 and server.stopped != EVERY_CLIENT_FAILED:  # (that: finish_run's line)
            raise NothingAggregatedError(f"no update was aggregated: the run ended before the first of its {cfg.rounds} aggregations: "
                                         f"{server.why_stopped()}")
    except Exception:
        bar.erase()  # the error's one line is what stays on the terminal
        raise
    finally:
        bar.close()
    early = {}
    if server.stopped is not None:
        if server.version > 0:
            print(f"fedsim: warning: the run ended after {server.version} of its {cfg.rounds} aggregations: {server.why_stopped()}", file=sys.stderr)
        early = {"stopped": server.stopped, "stopped_round": server.version, "aggregations_planned": cfg.rounds}
    summary = finish_run(ledger, cfg.target_accuracy, {
        "seed": cfg.seed, "op": dataclasses.asdict(cfg.op), "strategy": {"name": cfg.strategy.name, **dataclasses.asdict(cfg.strategy.params)},
        "availability": cfg.availability.kind, "num_devices": cfg.world.num_devices, "access": cfg.access.scheme,
        "drops": drop_counts(ledger.devices), "client_errors": server.client_errors, "device_events": server.events.events_processed,
        "dataset": cfg.dataset.name, "model": cfg.model.name, "workload": dataclasses.asdict(task.workload),
        **task.summary_extra(), **early, "torch_threads": torch.get_num_threads(), "wall_time_s": wall_time_s(),
    }, output_dir=output_dir, task=task, final_arrays=server.arrays, first_client_error=server.first_client_error, what="aggregations",
        diverged_round=server.diverged_round, diverged_hint=_diverged_hint(cfg), tracker=tracker)
    return RunResult(summary, ledger.rounds, ledger.devices, output_dir, server.arrays.to_torch_state_dict(), {})


def _diverged_hint(cfg: Any) -> str:
    """What to lower when the global model diverged: the devices' step, and the server's."""
    server = [f"strategy.{key}={getattr(cfg.strategy.params, key):g}" for key in ("server_lr", "mixing") if hasattr(cfg.strategy.params, key)]
    return f" (train.lr={cfg.train.lr:g}, {', '.join(server)}: try smaller ones)"
