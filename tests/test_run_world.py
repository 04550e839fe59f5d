"""The discrete-event world inside federated runs: what the ledger shows."""

import numpy as np
import pytest
from run_helpers import tiny_overrides

import fedsim


def test_a_tight_deadline_shows_as_deadline_drops_in_the_ledger():
    free = fedsim.run(tiny_overrides(rounds=3))
    times = [d["finish_s"] - r["sim_time_s"] + r["round_time_s"] for r in free.rounds[1:] for d in free.devices if d["round"] == r["round"]]
    deadline = float(np.median(times))
    tight = fedsim.run(tiny_overrides(rounds=3, world={"num_devices": 6, "deadline_s": deadline}))
    reasons = [d["drop_reason"] for d in tight.devices]
    assert "deadline" in reasons
    assert sum(r["delivered"] for r in tight.rounds) < sum(r["delivered"] for r in free.rounds)
    assert all(r["delivered"] <= r["selected"] for r in tight.rounds)
    assert tight.summary["drops"]["deadline"] == reasons.count("deadline")
    # The server closes each round at the deadline when someone is late.
    for row in tight.rounds[1:]:
        late = [d for d in tight.devices if d["round"] == row["round"] and d["drop_reason"] == "deadline"]
        if late:
            assert row["round_time_s"] == pytest.approx(deadline)


def test_a_small_battery_removes_a_device_from_selection_once_empty():
    probe = fedsim.run(tiny_overrides(rounds=1))
    per_round = max(d["energy_compute_j"] + d["energy_uplink_j"] for d in probe.devices)
    result = fedsim.run(
        tiny_overrides(rounds=8, op={"devices_per_round": 3}, devices={"battery_j": 1.5 * per_round})
    )
    emptied = {d["device"]: d["round"] for d in result.devices if d["drop_reason"] == "battery"}
    assert emptied, "some device should run dry"
    for device, round_emptied in emptied.items():
        later = [d for d in result.devices if d["device"] == device and d["round"] > round_emptied]
        assert later == []
    assert all(d["battery_j"] >= 0 for d in result.devices)


def test_access_schemes_and_mobility_run_end_to_end():
    for extra in (
        {"access": {"scheme": "tdma"}},
        {"access": {"scheme": "ofdma", "resource_blocks": 4}},
        {"mobility": {"kind": "random_waypoint"}},
        {"radio": {"waterfall_threshold": 5.0}},
    ):
        result = fedsim.run(tiny_overrides(**extra))
        assert result.summary["rounds"] == 2
        assert result.rounds[-1]["sim_time_s"] > 0
