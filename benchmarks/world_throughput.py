"""Device-rounds per second of the world alone: vectorized World vs one simpy process per device.

Both simulate the same rounds (every device selected, 8-bit payloads, a deadline, packet errors,
batteries and the downlink broadcast) from the same seed; the outcomes are checked to be
identical before any time is reported. Target: >= 10x faster at 10,000 devices.

    python benchmarks/world_throughput.py [--rounds 5]

The last line is one JSON object with "speedup_100", "speedup_1000", "speedup_10000" and
"device_rounds_per_s_10000".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# Run as a script, sys.path[0] is benchmarks/ itself: put the repository root first so the
# sibling module imports as benchmarks.naive_world (as it does under python -m).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.naive_world import NaiveWorld  # noqa: E402
from fedsim.world import AccessConfig, DeviceConfig, RoundPlan, Workload, World, WorldConfig  # noqa: E402

WORKLOAD = Workload(params=20_000, macs=2e4, activations=200, input_size=64)


def make_world(num_devices: int) -> World:
    config = WorldConfig.of(
        num_devices=num_devices,
        access=AccessConfig(scheme="orthogonal"),
        deadline_s=0.5,
        waterfall_threshold=2.0,
        # The broadcast goes at the worst selected device's rate: among 100k Rayleigh-faded
        # devices that one is deep in a fade, so the base station needs the power to reach it.
        downlink_power_w=200.0,
        devices=DeviceConfig(battery_j=0.5, rx_power_w=0.05),
    )
    return World(config, WORKLOAD, seed=0)


def plans(world: World, rounds: int):
    for r in range(1, rounds + 1):
        devices = world.available_devices()
        k = devices.size
        yield RoundPlan(r, devices, np.full(k, 5), np.full(k, 8), np.full(k, 8 * 20_000.0), 32 * 20_000.0)


def timed(world, simulate, rounds: int) -> tuple[float, int, list]:
    outcomes, count = [], 0
    start = time.perf_counter()
    for plan in plans(world, rounds):
        outcomes.append(simulate(plan))
        count += plan.devices.size
    return time.perf_counter() - start, count, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    loads = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print("load average at start (1, 5, 15 min): " + " ".join(f"{x:.2f}" for x in loads), flush=True)
    report: dict[str, float] = {"benchmark": "world_throughput", "rounds": args.rounds}
    for n in (100, 1_000, 10_000):
        fast_world = make_world(n)
        fast_s, count, fast = timed(fast_world, fast_world.simulate_round, args.rounds)
        slow_world = make_world(n)
        naive = NaiveWorld(slow_world)
        slow_s, _, slow = timed(slow_world, naive.simulate_round, args.rounds)
        for a, b in zip(fast, slow):  # identical outcomes, or no number is reported
            assert list(a.drop_reason) == list(b["drop_reason"])
            assert np.allclose(a.energy_compute_j + a.energy_uplink_j + a.energy_download_j, b["energy_j"], rtol=1e-9)
            assert np.isclose(a.duration_s, b["duration_s"], rtol=1e-12)
        fast_rate, slow_rate = count / fast_s, count / slow_s
        print(f"{n:>6} devices: vectorized {fast_rate:>12,.0f} device-rounds/s   one process per device {slow_rate:>10,.0f}   speedup {fast_rate / slow_rate:6.1f}x")
        report[f"speedup_{n}"] = fast_rate / slow_rate
        report[f"device_rounds_per_s_{n}"] = fast_rate
        report[f"naive_device_rounds_per_s_{n}"] = slow_rate
    report["target_speedup_10000"] = 10.0
    print(json.dumps(report))


if __name__ == "__main__":
    main()
