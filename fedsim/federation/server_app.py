"""The fedsim ServerApp: builds the world and the strategy, runs the rounds, keeps the ledger."""

from __future__ import annotations

import dataclasses
import io
from contextlib import contextmanager
import logging
import time
from collections import Counter
from pathlib import Path

import torch
from flwr.app import ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from tqdm.auto import tqdm

from .._atomic import atomic_write_bytes
from ..ledger import Ledger
from ..result import RunResult
from ..world import ChannelConfig, DeviceConfig, QnnEnergyModel, World, WorldConfig, dbm_to_w
from ._job import task_from_run_config
from ._task import Task
from .strategy import QuantizedFedAvg

OUTPUT_DIR_KEY = "fedsim.output-dir"

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
    """The World of a task's run configuration (dB converted to SI here, once)."""
    cfg = task.config
    radio, devices = cfg.radio, cfg.devices
    e = devices.energy
    config = WorldConfig(
        num_devices=cfg.world.num_devices,
        area_side_m=cfg.world.area_side_m,
        tx_power_w=radio.tx_power_w,
        bandwidth_hz=radio.bandwidth_hz,
        noise_psd_w_hz=dbm_to_w(radio.noise_psd_dbm_hz),
        noise_figure_db=radio.noise_figure_db,
        path_loss_exponent=radio.path_loss_exponent,
        device_macs_per_s=devices.macs_per_s,
        energy=QnnEnergyModel(
            mac_energy_j=e.mac_energy_pj * 1e-12,
            alpha=e.alpha,
            dram_factor=e.dram_factor,
            sram_bits=e.sram_bits,
            pe_reuse=e.pe_reuse,
            batch_size=cfg.train.batch_size,
        ),
        deadline_s=cfg.world.deadline_s,
        downlink_power_w=radio.downlink_power_w,
        waterfall_threshold=radio.waterfall_threshold,
        access=cfg.access,
        channel=_base(ChannelConfig, radio),
        devices=_base(DeviceConfig, devices),
        mobility=cfg.mobility,
    )
    return World(config, task.workload_parts, cfg.seed)


def _base(cls, section):
    """The world's own config ``cls`` from a run-config section that extends it."""
    return cls(**{f.name: getattr(section, f.name) for f in dataclasses.fields(cls)})


def run_federation(grid: Grid, context: Context, *, output_dir: Path | None, progress: bool = True) -> RunResult:
    """Run the configured rounds on ``grid``; write the ledger into ``output_dir``."""
    started = time.perf_counter()
    task = task_from_run_config(context.run_config)
    cfg = task.config
    world = build_world(task)
    ledger = Ledger(output_dir)
    with quiet_flower_log():
        strategy = QuantizedFedAvg(task, world)
    bar = tqdm(total=cfg.rounds, desc="fedsim rounds", unit="round", disable=not progress, leave=True)

    def evaluate_global(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        op = strategy.operating_point(max(server_round, 1))
        metrics = task.evaluate(arrays, op)
        loss, accuracy = metrics["loss"], metrics["accuracy"]
        report = strategy.last_round if server_round > 0 else None
        outcome = report.outcome if report is not None else None
        delivered = sum(r["delivered"] for r in report.device_rows) if report else 0
        ledger.record_round(
            {
                "round": server_round,
                "sim_time_s": world.now_s,
                "round_time_s": outcome.round_s if outcome is not None else 0.0,
                "energy_compute_j": float(outcome.energy_compute_j.sum()) if outcome is not None else 0.0,
                "energy_uplink_j": float(outcome.energy_uplink_j.sum()) if outcome is not None else 0.0,
                "energy_download_j": float(outcome.energy_download_j.sum()) if outcome is not None else 0.0,
                "energy_propulsion_j": float(outcome.energy_propulsion_j.sum()) if outcome is not None else 0.0,
                "energy_round_j": float(outcome.energy_j) if outcome is not None else 0.0,
                "test_accuracy": accuracy,
                "test_loss": loss,
                "selected": len(report.device_rows) if report else 0,
                "delivered": delivered,
                "uplink_bits": sum(r["payload_bits"] for r in report.device_rows if r["delivered"]) if report else 0,
                "train_loss": report.train_loss if report else None,
                "test_perplexity": metrics.get("perplexity"),
                "aggregation_error": report.aggregation.get("error") if report else None,
            },
            report.device_rows if report else [],
        )
        if server_round > 0:
            bar.update(1)
            bar.set_postfix(acc=f"{accuracy:.3f}", energy_j=f"{ledger.rounds[-1]['energy_cum_j']:.3g}")
        return MetricRecord({"accuracy": accuracy, "loss": loss})

    with bar, quiet_flower_log():
        result = strategy.start(
            grid,
            initial_arrays=task.initial_record(),
            num_rounds=cfg.rounds,
            evaluate_fn=evaluate_global,
        )

    final_state = result.arrays.to_torch_state_dict()
    summary = ledger.summary(
        cfg.target_accuracy,
        {
            "seed": cfg.seed,
            "op": {
                "train_bits": cfg.op.train_bits,
                "uplink_bits": cfg.op.uplink_bits,
                "local_iters": cfg.op.local_iters,
                "devices_per_round": cfg.op.devices_per_round,
            },
            "num_devices": cfg.world.num_devices,
            "access": cfg.access.scheme,
            "deadline_s": cfg.world.deadline_s,
            "drops": dict(sorted(Counter(r["drop_reason"] for r in ledger.devices if r["drop_reason"]).items())),
            "dataset": cfg.dataset.name,
            "model": cfg.model.name,
            "workload": {
                "params": task.workload.params,
                "macs": task.workload.macs,
                "activations": task.workload.activations,
                "input_size": task.workload.input_size,
            },
            **task.summary_extra(),
            "wall_time_s": time.perf_counter() - started,
        },
    )
    if output_dir is not None:
        buffer = io.BytesIO()
        torch.save(final_state, buffer)
        atomic_write_bytes(output_dir / "model.pt", buffer.getvalue())
    ledger.write_summary(summary)  # last: its presence marks a complete run
    return RunResult(summary, ledger.rounds, ledger.devices, output_dir, final_state)


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Entry point under Flower's own runtime (``flwr run``)."""
    output = context.run_config.get(OUTPUT_DIR_KEY)
    run_federation(grid, context, output_dir=Path(str(output)) if output else None, progress=False)
