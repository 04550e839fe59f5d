"""The ledger appends each round's rows, and a reopened ledger continues as if never interrupted."""

from __future__ import annotations

import math

import pytest

from fedsim.ledger import DEVICES_FILE, ROUNDS_FILE, Column, DeviceRow, Ledger, RoundRow

EXTRAS = (Column("test_perplexity"), Column("note"))
DEVICE_EXTRAS = (Column("memory_bytes"),)


def _round(r: int) -> tuple[RoundRow, list[DeviceRow], dict, list[dict]]:
    row = RoundRow(r, 1.5 * r, 0.1 + r / 3, 1e-6 * r, 2e-6, 0.0, 3e-6 * r + 1 / 7, 0.0, 0.0,
                   math.nan if r == 2 else 0.1 * r, 2.3 / (r + 1), 2, 1 + r % 2, 10_016, None if r == 0 else 2.0 / (r + 1))
    devices = [
        DeviceRow(r, d, 8, 8, 5008, 1, None if d else 360, 0.1, d, 0.0, 5.6e-6, 9.1e-5 / (d + 1), 9.7e-5, 1.3e-6, 9.1e-6, 0.0, 0.0,
                  1.7e-11, 466.3 + d, d == 0, "" if d == 0 else "deadline", math.inf, 417.0, 208.6, 0.0, None if d else 2.34)
        for d in range(2)
    ]
    return row, devices, {"test_perplexity": 12.5 / (r + 1), "note": "x" if r % 2 else None}, [{"memory_bytes": 4096 * (d + 1)} for d in range(2)]


def _record(ledger: Ledger, rounds) -> None:
    for r in rounds:
        row, devices, extras, device_extras = _round(r)
        ledger.record_round(row, devices, extras=extras, device_extras=device_extras)


def test_appending_round_by_round_writes_the_whole_file_once(tmp_path):
    ledger = Ledger(tmp_path, EXTRAS, DEVICE_EXTRAS)
    _record(ledger, range(4))
    rounds = (tmp_path / ROUNDS_FILE).read_text().splitlines()
    assert rounds[0].startswith("round,sim_time_s,") and rounds[0].endswith(",test_perplexity,note")
    assert len(rounds) == 5 and rounds[3].split(",")[9] == ""  # the NaN accuracy of round 2
    assert len((tmp_path / DEVICES_FILE).read_text().splitlines()) == 1 + 8
    assert ledger.byte_lengths == {ROUNDS_FILE: (tmp_path / ROUNDS_FILE).stat().st_size, DEVICES_FILE: (tmp_path / DEVICES_FILE).stat().st_size}


def test_a_new_ledger_replaces_what_an_earlier_run_left(tmp_path):
    (tmp_path / ROUNDS_FILE).write_text("stale\n" * 10)
    ledger = Ledger(tmp_path, EXTRAS, DEVICE_EXTRAS)
    _record(ledger, range(1))
    assert not (tmp_path / ROUNDS_FILE).read_text().startswith("stale")


@pytest.mark.parametrize("torn", [ROUNDS_FILE, DEVICES_FILE])
def test_reopen_drops_a_half_appended_round_and_continues_byte_identically(tmp_path, torn):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    _record(Ledger(whole, EXTRAS, DEVICE_EXTRAS), range(5))

    ledger = Ledger(cut, EXTRAS, DEVICE_EXTRAS)
    _record(ledger, range(3))
    lengths = ledger.byte_lengths  # what a checkpoint after round 2 keeps
    _record(ledger, [3])
    text = (cut / torn).read_bytes()
    (cut / torn).write_bytes(text[: lengths[torn] + 7])  # a kill in the middle of round 3's rows

    reopened = Ledger.reopen(cut, lengths, EXTRAS, DEVICE_EXTRAS)
    assert [r["round"] for r in reopened.rounds] == [0, 1, 2]
    assert _same_rows(reopened.rounds, ledger.rounds[:3])
    assert _same_rows(reopened.devices, ledger.devices[:6])
    _record(reopened, [3, 4])
    for name in (ROUNDS_FILE, DEVICES_FILE):
        assert (cut / name).read_bytes() == (whole / name).read_bytes()
    assert reopened.byte_lengths == {name: (whole / name).stat().st_size for name in (ROUNDS_FILE, DEVICES_FILE)}


def _same_rows(a: list[dict], b: list[dict]) -> bool:
    """Rows equal value by value, NaN equal to NaN (a NaN cell reads back as NaN, None as None)."""
    def same(x, y):
        return (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)) or x == y and type(x) is type(y)

    return len(a) == len(b) and all(ra.keys() == rb.keys() and all(same(ra[k], rb[k]) for k in ra) for ra, rb in zip(a, b))


def test_reopen_refuses_files_shorter_than_the_checkpoint_says(tmp_path):
    ledger = Ledger(tmp_path, EXTRAS, DEVICE_EXTRAS)
    _record(ledger, range(2))
    lengths = {name: n + 1 for name, n in ledger.byte_lengths.items()}
    with pytest.raises(ValueError, match="shorter than"):
        Ledger.reopen(tmp_path, lengths, EXTRAS, DEVICE_EXTRAS)


def _strict_json(text: str):
    """json.loads that refuses NaN/Infinity, as every JSON parser outside Python does."""
    import json

    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_summary_json_is_strict_json_with_null_for_non_finite_values(tmp_path):
    ledger = Ledger(tmp_path, EXTRAS, DEVICE_EXTRAS)
    _record(ledger, range(3))
    summary = ledger.summary(0.8, extra={"final_loss": math.nan, "per_device_j": [1.5, math.inf, -math.inf], "nested": {"gap": math.nan}})
    ledger.write_summary(summary)
    loaded = _strict_json((tmp_path / "summary.json").read_text())
    assert loaded["final_loss"] is None and loaded["per_device_j"] == [1.5, None, None] and loaded["nested"] == {"gap": None}
    assert loaded["rounds"] == 2 and loaded["final_accuracy"] == pytest.approx(0.1)  # round 2's NaN accuracy skipped


def test_the_summary_gives_round_energy_and_simulated_time_of_the_first_row_at_the_target():
    ledger = Ledger(None, EXTRAS, DEVICE_EXTRAS)
    _record(ledger, range(4))  # accuracies 0.0, 0.1, NaN, 0.3 at sim_time_s 0, 1.5, 3, 4.5
    summary = ledger.summary(0.25)
    assert summary["rounds_to_target"] == 3 and summary["sim_time_to_target_s"] == 4.5
    assert summary["energy_to_target_j"] == ledger.rounds[3]["energy_cum_j"] > ledger.rounds[2]["energy_cum_j"]
    missed = ledger.summary(0.5)
    assert missed["rounds_to_target"] is None and missed["sim_time_to_target_s"] is None and missed["energy_to_target_j"] is None


def test_battery_level_is_empty_for_mains_power_and_the_level_otherwise():
    import sys

    from fedsim.ledger import battery_level_j

    # The World holds mains power as inf, and as the largest float once a round was paid from it.
    assert battery_level_j(math.inf) is None and battery_level_j(sys.float_info.max) is None
    assert battery_level_j(0.0) == 0.0 and battery_level_j(2.5e-3) == 2.5e-3


def test_a_mains_powered_runs_devices_csv_leaves_battery_j_empty_and_a_battery_runs_gives_levels(tmp_path):
    import csv

    import fedsim
    from run_helpers import tiny_overrides

    fedsim.run(tiny_overrides(), tmp_path / "mains")
    fedsim.run(tiny_overrides(devices={"battery_j": 5.0}), tmp_path / "battery")
    with open(tmp_path / "mains" / DEVICES_FILE) as handle:
        mains = [row["battery_j"] for row in csv.DictReader(handle)]
    with open(tmp_path / "battery" / DEVICES_FILE) as handle:
        battery = [float(row["battery_j"]) for row in csv.DictReader(handle)]
    assert len(mains) == 6 and set(mains) == {""}
    assert len(battery) == 6 and all(0.0 < level < 5.0 for level in battery)
    # Read back (fedsim resume reopens the ledger so) as the None the run recorded.
    reopened = Ledger.reopen(tmp_path / "mains", {ROUNDS_FILE: (tmp_path / "mains" / ROUNDS_FILE).stat().st_size,
                                                  DEVICES_FILE: (tmp_path / "mains" / DEVICES_FILE).stat().st_size})
    assert {row["battery_j"] for row in reopened.devices} == {None}
