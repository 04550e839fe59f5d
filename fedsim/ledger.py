"""The ledger: the single record of a run, per round and per device, and its one typed schema.

``RoundRow`` and ``DeviceRow`` are the schema: their fields are the CSV columns, in order, with
units in the names. A task adds its own columns (``Column``, e.g. test perplexity) as extras, and
``analysis`` reads the files through the names defined here.

Written after every round: the first write of a CSV replaces the file whole (atomically), later
rounds append only their rows (flushed and fsynced), so a round costs its own rows, not the
run's. ``byte_lengths`` are the files' lengths after the last recorded round: a checkpoint keeps
them, and ``Ledger.reopen`` truncates the files back to them, so a row half-appended by a kill is
dropped and both CSVs end at the same round. ``summary.json`` is written last and only exists
for a finished run. Floats are written with ``repr`` (shortest round-trip form), so the same seed
gives byte-identical CSV files, and reading a cell back gives the very same float.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._atomic import append_durably, atomic_write_bytes, atomic_write_text

ROUNDS_FILE = "rounds.csv"
DEVICES_FILE = "devices.csv"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"


@dataclass(frozen=True)
class Column:
    """A column a task adds to rounds.csv or devices.csv (after the schema's own)."""

    name: str
    doc: str = ""


@dataclass
class RoundRow:
    """One row of rounds.csv: a round after aggregation and the server's evaluation (round 0 is
    the initial model). Energies are the selected devices' sums; propulsion is kept apart.

    Attributes:
        round: The round (asynchronous runs: the aggregation); 0 is the initial model.
        sim_time_s: Simulated time at the end of the round, from the start of the run.
        round_time_s: Simulated duration of the round: until every expected upload arrived or
            the deadline passed.
        energy_compute_j: Local training energy of the round's selected devices.
        energy_uplink_j: Transmit energy of their uploads (lost ones included).
        energy_download_j: Energy of receiving the global model (0 unless the downlink is modelled).
        energy_round_j: The round's learning energy: compute + uplink + download.
        energy_cum_j: Running sum of ``energy_round_j`` up to this round.
        energy_propulsion_j: Flight energy of UAV devices, kept apart from the learning energy.
        test_accuracy: The global model's accuracy on the server's test set (empty: not evaluated).
        test_loss: Its mean test loss.
        selected: Devices selected (asynchronous runs: updates that arrived or were lost since
            the previous aggregation).
        delivered: Updates that arrived intact and were aggregated.
        uplink_bits: Payload bits of the delivered updates.
        train_loss: Example-weighted mean of the delivered devices' local training losses.
    """

    round: int
    sim_time_s: float
    round_time_s: float
    energy_compute_j: float
    energy_uplink_j: float
    energy_download_j: float
    energy_round_j: float
    energy_cum_j: float
    energy_propulsion_j: float
    test_accuracy: float
    test_loss: float
    selected: int
    delivered: int
    uplink_bits: int
    train_loss: float | None


@dataclass
class DeviceRow:
    """One row of devices.csv: a selected device in one round (``drop_reason`` empty = delivered).

    Attributes:
        round: The round (asynchronous runs: the aggregation the update arrived for).
        device: The device's index, in ``[0, world.num_devices)``.
        train_bits: Training precision n.
        uplink_bits: Precision m of the uploaded update.
        payload_bits: Size of the upload.
        local_iters: Local iterations (mini-batches) I.
        num_examples: Examples the device holds (empty where the client did not report it).
        tx_power_w: Transmit power of its upload.
        channel: The channel it used: resource block, FDMA sub-band, or 0.
        download_s: Time to receive the global model.
        compute_s: Local training time.
        upload_s: Time on air.
        finish_s: When its upload ended, or would have ended where it was cut off, in simulated seconds from the start of the run.
        energy_compute_j: Local training energy.
        energy_uplink_j: Transmit energy.
        energy_download_j: Energy of receiving the global model.
        energy_propulsion_j: Flight energy (UAVs only).
        channel_gain: Uplink channel gain, large-scale times fading, linear.
        distance_m: Distance to the server's antenna.
        delivered: Whether the update arrived and was aggregated (``1``/``0``).
        drop_reason: Empty when delivered, else why not (see the drop reasons).
        battery_j: Battery level after the round (empty: a mains-powered device).
        x_m: Position, x.
        y_m: Position, y.
        z_m: Position, z (altitude).
        train_loss: The device's mean local training loss (empty when it did not train).
    """

    round: int
    device: int
    train_bits: int
    uplink_bits: int
    payload_bits: int
    local_iters: int
    num_examples: int | None
    tx_power_w: float
    channel: int
    download_s: float
    compute_s: float
    upload_s: float
    finish_s: float
    energy_compute_j: float
    energy_uplink_j: float
    energy_download_j: float
    energy_propulsion_j: float
    channel_gain: float
    distance_m: float
    delivered: bool
    drop_reason: str
    battery_j: float | None  # the level after the round; empty (None) for a mains-powered device
    x_m: float
    y_m: float
    z_m: float
    train_loss: float | None


# devices.csv's columns for cellular-connected drones (mobility=drone_routes), after the task's own:
# what the handover rule did to each drone in the round. Other runs' devices.csv has none of them.
DRONE_DEVICE_COLUMNS = (
    Column("serving_cell", "The cell serving the drone when its upload started (an index of the network's cells)."),
    Column("handovers", "Handovers (serving-cell changes along the drone's route) during the round."),
    Column("rlf", "Radio-link failures during the round: runs of serving SINR below cellular.rlf_sinr_db "
                  "that last longer than cellular.t310_s."),
)


def battery_level_j(level_j: float) -> float | None:
    """A device's battery level as devices.csv records it: None (an empty cell) for mains power,
    which the World holds as inf, or as the largest float once a round has been paid from it."""
    level = float(level_j)
    return None if level >= sys.float_info.max else level


ROUND_COLUMNS = tuple(f.name for f in dataclasses.fields(RoundRow))
DEVICE_COLUMNS = tuple(f.name for f in dataclasses.fields(DeviceRow))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if hasattr(value, "item"):  # numpy scalar
        return _cell(value.item())
    return str(value)


def _header(columns: Sequence[str]) -> str:
    return ",".join(columns) + "\n"


def _lines(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    for row in rows:
        out.write(",".join(_cell(row.get(c)) for c in columns) + "\n")
    return out.getvalue()


def _field_types(schema: type) -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(schema)}


_ROUND_TYPES = _field_types(RoundRow)
_DEVICE_TYPES = _field_types(DeviceRow)


def _parse_cell(text: str, kind: str | None) -> Any:
    """The value ``_cell`` wrote as ``text``; ``kind`` is the schema field's type (None: a task's
    column, whose type the ledger does not know: an int, a float or a string, by its form)."""
    if kind is None:
        if text == "":
            return None
        for parse in (int, float):
            try:
                return parse(text)
            except ValueError:
                pass
        return text
    base = kind.split(" | ")[0]
    if text == "" and base != "str":
        # An empty cell is None for an optional field; a float field writes NaN so.
        return None if kind.endswith("| None") else math.nan
    return {"int": int, "float": float, "bool": lambda t: t == "1", "str": str}[base](text)


def _read_rows(path: Path, columns: Sequence[str], types: Mapping[str, str]) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != ",".join(columns):
        raise ValueError(f"{path}: its header is not {','.join(columns)}")
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        if len(cells) != len(columns):
            raise ValueError(f"{path}: a row of {len(cells)} cells, the header has {len(columns)}")
        rows.append({c: _parse_cell(v, types.get(c)) for c, v in zip(columns, cells)})
    return rows


def _json_safe(value: Any) -> Any:
    """Strict JSON: non-finite floats become null (NaN is not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


@dataclass
class Ledger:
    """Collects round and device rows and writes ``rounds.csv``, ``devices.csv``, ``summary.json``.

    ``round_extras`` / ``device_extras`` are the task's own columns, appended after the schema's.
    Rows are kept as plain dicts (what ``RunResult`` returns).
    """

    output_dir: Path | None
    round_extras: tuple[Column, ...] = ()
    device_extras: tuple[Column, ...] = ()
    rounds: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    # What is on disk: rows written so far and each file's length after them (None: not yet written).
    _written: dict[str, int] = field(default_factory=lambda: {ROUNDS_FILE: 0, DEVICES_FILE: 0}, repr=False)
    _bytes: dict[str, int | None] = field(default_factory=lambda: {ROUNDS_FILE: None, DEVICES_FILE: None}, repr=False)
    # Called with each new rounds.csv row once it is on disk (an experiment tracker, say).
    listeners: list = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def reopen(
        cls, output_dir: Path, byte_lengths: Mapping[str, int], round_extras: tuple[Column, ...] = (), device_extras: tuple[Column, ...] = ()
    ) -> Ledger:
        """The ledger of a run directory as it was when its CSVs had ``byte_lengths`` (what
        ``byte_lengths`` said then): the files are truncated back to them (dropping rows written
        after, or half-written by a kill) and their rows read back, so recording continues."""
        ledger = cls(Path(output_dir), round_extras, device_extras)
        for name, columns, types, rows in (
            (ROUNDS_FILE, ledger.round_columns, _ROUND_TYPES, ledger.rounds),
            (DEVICES_FILE, ledger.device_columns, _DEVICE_TYPES, ledger.devices),
        ):
            path, length = ledger.output_dir / name, int(byte_lengths[name])
            size = path.stat().st_size if path.is_file() else None
            if size is None or size < length:
                raise ValueError(f"{path}: {size} bytes, shorter than the {length} bytes the ledger had written")
            with open(path, "r+b") as handle:
                handle.truncate(length)
                handle.flush()
                os.fsync(handle.fileno())
            rows.extend(_read_rows(path, columns, types))
            ledger._written[name], ledger._bytes[name] = len(rows), length
        return ledger

    @property
    def byte_lengths(self) -> dict[str, int]:
        """Each CSV's length in bytes after the rounds recorded so far (empty before any write)."""
        return {name: length for name, length in self._bytes.items() if length is not None}

    @property
    def round_columns(self) -> tuple[str, ...]:
        return ROUND_COLUMNS + tuple(c.name for c in self.round_extras)

    @property
    def device_columns(self) -> tuple[str, ...]:
        return DEVICE_COLUMNS + tuple(c.name for c in self.device_extras)

    def record_round(
        self,
        row: RoundRow,
        device_rows: Sequence[DeviceRow],
        *,
        extras: Mapping[str, Any] | None = None,
        device_extras: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Append one round; ``energy_cum_j`` is the running sum of ``energy_round_j``."""
        previous = self.rounds[-1]["energy_cum_j"] if self.rounds else 0.0
        row.energy_cum_j = previous + row.energy_round_j
        # Rows hold scalars only: their __dict__ is asdict's result without its deep copy (10x faster).
        self.rounds.append({**vars(row), **self._extras(extras, self.round_extras, "round")})
        per_device = device_extras or [{}] * len(device_rows)
        for device_row, extra in zip(device_rows, per_device, strict=True):
            self.devices.append({**vars(device_row), **self._extras(extra, self.device_extras, "device")})
        self.flush()
        for listener in self.listeners:
            listener(self.rounds[-1])

    @staticmethod
    def _extras(values: Mapping[str, Any] | None, declared: tuple[Column, ...], kind: str) -> dict[str, Any]:
        values = dict(values or {})
        unknown = set(values) - {c.name for c in declared}
        if unknown:
            raise KeyError(f"{kind} columns {sorted(unknown)} are not declared by the task")
        return {c.name: values.get(c.name) for c in declared}

    def flush(self) -> None:
        """Write the rows recorded since the last flush: the whole file the first time (replacing
        whatever an earlier run left there), appended after that."""
        if self.output_dir is None:
            return
        for name, columns, rows in ((ROUNDS_FILE, self.round_columns, self.rounds), (DEVICES_FILE, self.device_columns, self.devices)):
            path, new_rows = self.output_dir / name, rows[self._written[name] :]
            if self._bytes[name] is None:
                text = (_header(columns) + _lines(columns, new_rows)).encode("utf-8")
                atomic_write_bytes(path, text)
                self._bytes[name] = len(text)
            elif new_rows:
                self._bytes[name] = append_durably(path, _lines(columns, new_rows).encode("utf-8"))
            self._written[name] = len(rows)

    def summary(self, target_accuracy: float, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Headline numbers of the run: final accuracy, energy, and cost to reach the target.

        The keys (``extra`` adds the runner's own):

        - ``final_accuracy``: test accuracy of the last evaluated round.
        - ``final_loss``: test loss of that round.
        - ``best_accuracy``: the highest test accuracy of any round.
        - ``total_energy_j``: learning energy of the whole run (the last ``energy_cum_j``).
        - ``energy_compute_j``: its local training part.
        - ``energy_uplink_j``: its transmit part.
        - ``energy_download_j``: its download part.
        - ``energy_propulsion_j``: flight energy of UAVs, apart from the total.
        - ``rounds``: the last round recorded.
        - ``sim_time_s``: simulated time at the end of the run.
        - ``target_accuracy``: the run's ``target_accuracy``.
        - ``rounds_to_target``: the first round whose test accuracy reached it (null: never).
        - ``energy_to_target_j``: ``energy_cum_j`` at that round.
        - ``sim_time_to_target_s``: ``sim_time_s`` at that round.
        - ``uplink_bits_total``: payload bits of every delivered update.
        - ``delivered_updates``: updates delivered over the run.
        """
        last = self.rounds[-1] if self.rounds else {}
        # Rounds without a test evaluation (e.g. a Flower app's training batches) have NaN.
        evaluated = [r for r in self.rounds if r["test_accuracy"] is not None and math.isfinite(r["test_accuracy"])]
        final = evaluated[-1] if evaluated else {}
        reached = next((r for r in evaluated if r["test_accuracy"] >= target_accuracy), None)
        summary = {
            "final_accuracy": final.get("test_accuracy"),
            "final_loss": final.get("test_loss"),
            "best_accuracy": max((r["test_accuracy"] for r in evaluated), default=None),
            "total_energy_j": last.get("energy_cum_j", 0.0),
            "energy_compute_j": sum(r["energy_compute_j"] for r in self.rounds),
            "energy_uplink_j": sum(r["energy_uplink_j"] for r in self.rounds),
            "energy_download_j": sum(r["energy_download_j"] for r in self.rounds),
            "energy_propulsion_j": sum(r["energy_propulsion_j"] for r in self.rounds),
            "rounds": max((r["round"] for r in self.rounds), default=0),
            "sim_time_s": last.get("sim_time_s", 0.0),
            "target_accuracy": target_accuracy,
            "rounds_to_target": None if reached is None else reached["round"],
            "energy_to_target_j": None if reached is None else reached["energy_cum_j"],
            "sim_time_to_target_s": None if reached is None else reached["sim_time_s"],
            "uplink_bits_total": sum(r["uplink_bits"] for r in self.rounds),
            "delivered_updates": sum(r["delivered"] for r in self.rounds),
        }
        summary.update(extra or {})
        return summary

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        if self.output_dir is not None:
            text = json.dumps(_json_safe(summary), indent=2, sort_keys=True, allow_nan=False)
            atomic_write_text(self.output_dir / SUMMARY_FILE, text + "\n")
