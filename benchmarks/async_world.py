"""Device-events per second of the event-driven world alone (no training), against the
synchronous world on the same workload.

The AsyncWorld is driven the way ``run_async_federation`` drives it: keep ``concurrency`` devices
busy (each new job on an idle online device drawn uniformly at random: ``idle_device(k)`` at
k = floor(u * idle_count), O(1)), price each job's download, compute
and in-flight upload, advance the event queue to the next completion; the updates are synthetic
(payload bits only, no torch). The synchronous world then prices the same number of device-jobs
as rounds of ``concurrency`` devices (World.simulate_round). Devices come and go (on/off
availability), move (random waypoint) and their uploads change rate at every coherence block.
Target: >= 100,000 device-events/s at 10,000 devices and 10% concurrency.

    python benchmarks/async_world.py [--devices 10000] [--jobs 30000] [--repeats 3] [--quick]

Each world runs ``--repeats`` times, interleaved, on fresh worlds of the same seed (the event
counts must agree); the rates reported are the medians. The last line is one JSON object:
"device_events_per_s" (and the runs' "device_events_per_s_runs"), "async_device_jobs_per_s",
"sync_device_rounds_per_s", "ratio_vs_sync" (async device-jobs/s over sync device-rounds/s),
"python_reference_ops_per_s" (benchmarks._common's fixed pure-Python loop before each run, the
median: this shared VM's speed varies by up to ~2x between spells),
"device_events_per_reference_op", "target_device_events_per_s", "met".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# Run as a script, sys.path[0] is benchmarks/ itself: put the repository root first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_load_average, python_reference_ops_per_s  # noqa: E402
from fedsim.world import AsyncWorld, AvailabilityConfig, RoundPlan, Workload, World, WorldConfig  # noqa: E402

WORKLOAD = Workload(params=20_000, macs=2e4, activations=200, input_size=64)
PAYLOAD_BITS = 8 * 20_000.0  # an 8-bit update
DOWNLINK_BITS = 32 * 20_000.0  # the float32 global model
TARGET_EVENTS_PER_S = 100_000


def make_world(num_devices: int) -> World:
    config = WorldConfig.of(
        num_devices=num_devices, downlink_power_w=20.0, coherence_s=0.002, kind="random_waypoint", step_s=0.05,
        straggler_fraction=0.3, straggler_slowdown=10.0, macs_per_s=1e9,
        availability=AvailabilityConfig(kind="onoff", on_s=2.0, off_s=0.5),
    )
    return World(config, WORKLOAD, seed=0)


def run_async(world: World, concurrency: int, jobs: int) -> tuple[float, int, int, int]:
    """(seconds, device events, jobs completed, jobs delivered) of an event-driven run."""
    events = AsyncWorld(world)
    rng = np.random.default_rng(1)  # the server's selection stream
    uniforms: list[float] = []
    completed = delivered = 0
    start = time.perf_counter()
    while completed < jobs:
        while events.busy < concurrency:  # one idle online device at random per free slot, as the server does
            idle = events.idle_count
            if not idle:
                break
            if not uniforms:  # uniforms drawn in bulk: the server's pick, not the world, is what rng.integers would time
                uniforms = rng.random(4096).tolist()
            events.dispatch(events.idle_device(min(int(uniforms.pop() * idle), idle - 1)), local_iters=5, train_bits=8, uplink_bits=PAYLOAD_BITS,
                            downlink_bits=DOWNLINK_BITS, version=0)
        job = events.advance()
        if job is not None:
            completed += 1
            delivered += job.delivered
    return time.perf_counter() - start, events.events_processed, completed, delivered


def run_sync(world: World, concurrency: int, jobs: int) -> tuple[float, int]:
    """(seconds, device-rounds) of synchronous rounds of ``concurrency`` devices, ``jobs`` in all."""
    rng = np.random.default_rng(1)
    count = 0
    start = time.perf_counter()
    r = 0
    while count < jobs:
        r += 1
        available = world.available_devices()
        devices = np.sort(rng.permutation(available)[:concurrency])
        k = devices.size
        world.simulate_round(RoundPlan(r, devices, np.full(k, 5), np.full(k, 8), np.full(k, PAYLOAD_BITS), DOWNLINK_BITS))
        count += k
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--concurrency", type=float, default=0.1, help="fraction of the devices training at once")
    parser.add_argument("--jobs", type=int, default=30_000, help="device-jobs to complete")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each world (fresh, same seed); the medians are the result")
    parser.add_argument("--quick", action="store_true", help="a tiny size (1,000 devices, 2,000 jobs): checks it runs")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.jobs = 1_000, 2_000
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: at least 1")
    print_load_average()
    concurrency = max(1, int(round(args.concurrency * args.devices)))
    events_rates, jobs_rates, sync_rates, references = [], [], [], []
    outcome = None
    for _ in range(args.repeats):  # interleaved, so that each world sees the same spells of the machine
        references.append(python_reference_ops_per_s())
        async_s, events, completed, delivered = run_async(make_world(args.devices), concurrency, args.jobs)
        if outcome not in (None, (events, completed, delivered)):
            raise RuntimeError(f"repeat gave {(events, completed, delivered)} after {outcome}: the event world is not deterministic")
        outcome = (events, completed, delivered)
        sync_s, rounds = run_sync(make_world(args.devices), concurrency, args.jobs)
        events_rates.append(events / async_s)
        jobs_rates.append(completed / async_s)
        sync_rates.append(rounds / sync_s)
    events_rate, jobs_rate, sync_rate = (statistics.median(v) for v in (events_rates, jobs_rates, sync_rates))
    reference_ops = statistics.median(references)
    print(f"{args.devices} devices, {concurrency} at once: event world {events:,} events for {completed:,} jobs "
          f"({delivered:,} delivered); median of {args.repeats}: {events_rate:,.0f} device-events/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in events_rates)}), {jobs_rate:,.0f} device-jobs/s")
    print(f"synchronous world: {rounds:,} device-rounds, median {sync_rate:,.0f} device-rounds/s "
          f"(event world / synchronous: {jobs_rate / sync_rate:.3f})")
    print(f"machine speed: median {reference_ops:,.0f} reference Python ops/s "
          f"({events_rate / reference_ops:.3f} device-events per reference op)")
    print(json.dumps({
        "benchmark": "async_world", "devices": args.devices, "concurrency": concurrency, "jobs": completed,
        "device_events": events, "repeats": args.repeats, "device_events_per_s": events_rate,
        "device_events_per_s_runs": events_rates, "async_device_jobs_per_s": jobs_rate,
        "sync_device_rounds_per_s": sync_rate, "ratio_vs_sync": jobs_rate / sync_rate,
        "python_reference_ops_per_s": reference_ops, "device_events_per_reference_op": events_rate / reference_ops,
        "target_device_events_per_s": TARGET_EVENTS_PER_S, "met": events_rate >= TARGET_EVENTS_PER_S,
    }))


if __name__ == "__main__":
    main()
