"""Every ledger row of a federation, built here: one device row per selected device (from the
World's round outcome or the event world's job) and one round row per aggregation.

The sync server, the async server and the world grid all record through these functions, so a
column means the same thing whichever server wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ledger import DeviceRow, RoundRow, battery_level_j
from ..world import Job, RoundOutcome

ENERGY_PHASES = ("compute", "uplink", "download", "propulsion")


def device_row_of_outcome(
    outcome: RoundOutcome, i: int, *, server_round: int, train_bits: int, uplink_bits: int, payload_bits: int,
    local_iters: int, num_examples: int | None, delivered: bool, drop_reason: str, train_loss: float | None,
) -> DeviceRow:
    """The row of the ``i``-th selected device of a synchronous round (what the World said, and
    what the server decided about its reply)."""
    return DeviceRow(
        round=server_round, device=int(outcome.devices[i]), train_bits=train_bits, uplink_bits=uplink_bits,
        payload_bits=payload_bits, local_iters=local_iters, num_examples=num_examples,
        tx_power_w=float(outcome.tx_power_w[i]), channel=int(outcome.channel[i]), download_s=outcome.download_s,
        compute_s=float(outcome.compute_s[i]), upload_s=float(outcome.upload_s[i]), finish_s=float(outcome.finish_s[i]),
        energy_compute_j=float(outcome.energy_compute_j[i]), energy_uplink_j=float(outcome.energy_uplink_j[i]),
        energy_download_j=float(outcome.energy_download_j[i]), energy_propulsion_j=float(outcome.energy_propulsion_j[i]),
        channel_gain=float(outcome.channel_gain[i]), distance_m=float(outcome.distance_m[i]), delivered=delivered,
        drop_reason=drop_reason, battery_j=battery_level_j(outcome.battery_j[i]), x_m=float(outcome.position_m[i, 0]),
        y_m=float(outcome.position_m[i, 1]), z_m=float(outcome.position_m[i, 2]), train_loss=train_loss,
    )


def device_row_of_job(job: Job, *, server_round: int, uplink_bits: int, num_examples: int, tx_power_w: float, train_loss: float) -> DeviceRow:
    """The row of one finished job of the event-driven world."""
    return DeviceRow(
        round=server_round, device=job.device, train_bits=job.train_bits, uplink_bits=uplink_bits,
        payload_bits=int(job.uplink_bits), local_iters=job.local_iters, num_examples=num_examples,
        tx_power_w=tx_power_w, channel=job.device, download_s=job.download_s, compute_s=job.compute_s,
        upload_s=job.upload_s, finish_s=job.finish_s, energy_compute_j=job.energy_compute_j,
        energy_uplink_j=job.energy_uplink_j, energy_download_j=job.energy_download_j, energy_propulsion_j=0.0,
        channel_gain=job.channel_gain, distance_m=job.distance_m, delivered=job.delivered, drop_reason=job.drop_reason,
        battery_j=battery_level_j(job.battery_j), x_m=float(job.position_m[0]), y_m=float(job.position_m[1]), z_m=float(job.position_m[2]),
        train_loss=train_loss,
    )


def round_row(
    server_round: int, *, sim_time_s: float, round_time_s: float, energy_j: dict[str, float], energy_round_j: float,
    metrics: dict[str, float], rows: Sequence[DeviceRow], train_loss: float | None,
) -> RoundRow:
    """One rounds.csv row: ``energy_j`` by phase, ``energy_round_j`` the round's total (propulsion
    kept apart), ``metrics`` the server's evaluation (``accuracy``, ``loss``)."""
    return RoundRow(
        round=server_round, sim_time_s=sim_time_s, round_time_s=round_time_s,
        energy_compute_j=energy_j["compute"], energy_uplink_j=energy_j["uplink"], energy_download_j=energy_j["download"],
        energy_round_j=energy_round_j, energy_cum_j=0.0,  # the ledger keeps the running sum
        energy_propulsion_j=energy_j["propulsion"], test_accuracy=metrics["accuracy"], test_loss=metrics["loss"],
        selected=len(rows), delivered=sum(r.delivered for r in rows),
        uplink_bits=sum(r.payload_bits for r in rows if r.delivered), train_loss=train_loss,
    )


def outcome_energy(outcome: RoundOutcome | None) -> dict[str, float]:
    """A round's energy by phase, summed over its devices (all zero for round 0)."""
    return {p: float(getattr(outcome, f"energy_{p}_j").sum()) if outcome else 0.0 for p in ENERGY_PHASES}


def rows_energy(rows: Sequence[DeviceRow]) -> dict[str, float]:
    """Energy by phase summed over device rows (the async server's window)."""
    return {p: sum(getattr(r, f"energy_{p}_j") for r in rows) for p in ENERGY_PHASES}


def example_weighted_loss(pairs: Sequence[tuple[float, float]]) -> float | None:
    """The example-weighted mean of (loss, examples) pairs, None without any."""
    import numpy as np

    return float(np.average([l for l, _ in pairs], weights=[w for _, w in pairs])) if pairs else None


