"""Device-rounds per second of the World alone at 1k, 10k and 100k devices, its memory per device,
and the one-simpy-process-per-device world as the baseline in the same run.

Every round selects every device with charge left (8-bit payloads, a deadline, packet errors,
batteries and the downlink broadcast), from the same seed. Only ``World.simulate_round`` is
timed (the plans are built before each call). Each outcome is held until the next round's is
made, then released, as FedSim's server holds its previous outcome; what the naive check and the
delivery share read of it is copied out between the timed calls. The rate is device-rounds over
the summed time of the rounds after the first (which warms caches); the median round's rate and
the rate per second of this process's CPU time are reported too, since on a shared machine one
preempted round can move the sum. The naive world runs at a size where it is affordable (1k
devices), on the same rounds, and its outcomes are checked to be identical to the World's before
any ratio is reported. Target: >= 10M device-rounds/s at 10k devices.

At 10k devices the rounds are also timed with every outcome held to the end, the way this
benchmark timed them before (``kept_outcomes_*``): each held outcome is fresh memory, and on this
VM a minor page fault (one per 4 KiB touched) costs several microseconds, so the page faults of
a round are reported beside each rate.

What bounds a round is reported too: the fixed cost of a round of 10 devices (the Python and
per-call overhead of its numpy calls), at 10k devices the draws no round can skip (the fading
and packet-error streams of every device, from the World's ``StreamFamily``), and what building
those two streams costs the ``numpy_stream`` way and the ``StreamFamily`` way.

Memory per device is tracemalloc's (numpy reports its buffers to it): the World's state after
construction, and the peak a round adds at 100k devices, each divided by the device count.

    python benchmarks/world_throughput.py [--rounds 10] [--quick]

The last line is one JSON object with ``device_rounds_per_s_{1000,10000,100000}`` (and
``median_round_device_rounds_per_s_*``, ``cpu_time_device_rounds_per_s_*``,
``page_faults_per_round_*``, ``kept_outcomes_device_rounds_per_s_10000``), ``speedup_vs_naive_1000``,
``state_bytes_per_device_100000``, ``round_peak_bytes_per_device_100000``, ``stream_build_s``
and ``met``: the 10M target at 10k devices, on the summed-time rate both with outcomes released
and with every outcome held (the stricter of the two).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

# Run as a script, sys.path[0] is benchmarks/ itself: put the repository root first so the
# sibling module imports as benchmarks.naive_world (as it does under python -m).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_load_average  # noqa: E402
from benchmarks.naive_world import NaiveWorld  # noqa: E402
from fedsim.rng import StreamFamily, numpy_stream  # noqa: E402
from fedsim.world import AccessConfig, DeviceConfig, RoundPlan, Workload, World, WorldConfig  # noqa: E402

WORKLOAD = Workload(params=20_000, macs=2e4, activations=200, input_size=64)
TARGET_DEVICE_ROUNDS_PER_S = 10e6  # at 10k devices


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


def plan(world: World, round_index: int) -> RoundPlan:
    devices = world.available_devices()
    k = devices.size
    return RoundPlan(round_index, devices, np.full(k, 5), np.full(k, 8), np.full(k, 8 * 20_000.0), 32 * 20_000.0)


def summary(outcome, for_check: bool) -> dict:
    """The delivery share of an outcome (the World's RoundOutcome or the naive world's dict) and,
    ``for_check``, copies of what check_identical reads. A summary holds none of the outcome's
    arrays; the copies it holds (at the naive size only, 1k devices) are memory the rounds timed
    after it cannot reuse."""
    if isinstance(outcome, dict):
        return {"drop_reason": list(outcome["drop_reason"]), "energy_j": outcome["energy_j"].copy(),
                "duration_s": outcome["duration_s"], "delivered": float("nan")}
    if not for_check:
        return {"delivered": float(np.mean(outcome.delivered))}
    return {"drop_reason": outcome.drop_reason.tolist(), "duration_s": outcome.duration_s,
            "energy_j": outcome.energy_compute_j + outcome.energy_uplink_j + outcome.energy_download_j,
            "delivered": float(np.mean(outcome.delivered))}


def timed(world: World, simulate, rounds: int, *, keep_all: bool = False, for_check: bool = False) -> dict[str, list]:
    """Per ``simulate`` call: wall and CPU seconds, devices, minor page faults, and the outcome's
    ``summary`` (taken between the timed calls). An outcome is held until the next call returns
    (``keep_all``: every outcome is held to the end)."""
    times: dict[str, list] = {"seconds": [], "cpu_s": [], "sizes": [], "faults": [], "summaries": []}
    held: list = []
    for r in range(1, rounds + 1):
        p = plan(world, r)
        faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        cpu_start, start = time.process_time(), time.perf_counter()
        outcome = simulate(p)
        times["seconds"].append(time.perf_counter() - start)
        times["cpu_s"].append(time.process_time() - cpu_start)
        times["faults"].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before)
        times["sizes"].append(p.devices.size)
        times["summaries"].append(summary(outcome, for_check))
        held = [*held, outcome] if keep_all else [outcome]
    return times


def check_identical(fast: list[dict], slow: list[dict]) -> None:
    """The World's outcomes (their summaries) are the naive world's, or no ratio is reported."""
    for a, b in zip(fast, slow, strict=True):
        assert a["drop_reason"] == b["drop_reason"]
        assert np.allclose(a["energy_j"], b["energy_j"], rtol=1e-9)
        assert np.isclose(a["duration_s"], b["duration_s"], rtol=1e-12)


def memory_per_device(n: int) -> tuple[float, float]:
    """tracemalloc bytes per device: the World's state after construction, and a round's peak."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    world = make_world(n)
    state = tracemalloc.get_traced_memory()[0] - base
    p = plan(world, 1)
    tracemalloc.reset_peak()
    before_round = tracemalloc.get_traced_memory()[0]
    world.simulate_round(p)
    peak = tracemalloc.get_traced_memory()[1] - before_round
    tracemalloc.stop()
    return state / n, peak / n


def unskippable_draws_s(n: int, repeats: int = 20) -> float:
    """Best time of the draws every round makes for all n devices: fading (Rayleigh: standard
    exponentials) and packet errors, from streams built the World's way."""
    fading, packet_error = StreamFamily(0, "fading"), StreamFamily(0, "packet-error")
    best = float("inf")
    for r in range(repeats):
        start = time.perf_counter()
        fading.at(r).standard_exponential(n)
        packet_error.at(r).random(n)
        best = min(best, time.perf_counter() - start)
    return best


def stream_build_s(rounds: int = 256, repeats: int = 3) -> dict[str, float]:
    """Seconds per round to build its two named streams (fading, packet errors) over ``rounds``
    consecutive rounds, best of ``repeats``: as fresh ``numpy_stream`` generators, and reseeded by
    fresh ``StreamFamily`` objects as the World does (their seed derivation for the 256 rounds
    included)."""
    fresh = family = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for r in range(rounds):
            numpy_stream(0, "fading", r), numpy_stream(0, "packet-error", r)
        fresh = min(fresh, (time.perf_counter() - start) / rounds)
        start = time.perf_counter()
        fading, packet_error = StreamFamily(0, "fading"), StreamFamily(0, "packet-error")
        for r in range(rounds):
            fading.at(r), packet_error.at(r)
        family = min(family, (time.perf_counter() - start) / rounds)
    return {"numpy_stream": fresh, "stream_family": family}


def elementwise_pass_s(n: int, repeats: int = 50) -> float:
    """Best time of one elementwise pass over n float64 (c = a * b): the unit a round costs in."""
    a, b, c = np.random.default_rng(0).random((3, n))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.multiply(a, b, out=c)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="small sizes and 2 rounds (a smoke test)")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error(f"--rounds={args.rounds} is too small; expected >= 2 (the first round is a warm-up)")
    loads = print_load_average()
    sizes, naive_size, memory_size = ((100, 1_000), 100, 1_000) if args.quick else ((1_000, 10_000, 100_000), 1_000, 100_000)
    rounds = 2 if args.quick else args.rounds
    report: dict = {"benchmark": "world_throughput", "rounds": rounds, "loadavg_1min_at_start": round(loads[0], 2)}

    for n in sizes:
        world = make_world(n)
        times = timed(world, world.simulate_round, rounds, for_check=n == naive_size)
        # the first round warms caches (static gains, the streams' seeds)
        seconds, cpu_s, counts, faults = (times[key][1:] for key in ("seconds", "cpu_s", "sizes", "faults"))
        rate = sum(counts) / sum(seconds)
        best = max(c / s for c, s in zip(counts, seconds))
        median_rate = statistics.median(c / s for c, s in zip(counts, seconds))
        cpu_rate = sum(counts) / sum(cpu_s)
        delivered = statistics.mean(s["delivered"] for s in times["summaries"])
        print(f"{n:>7} devices: {rate:>13,.0f} device-rounds/s (median round {median_rate:>13,.0f}, "
              f"{statistics.median(seconds) * 1e3:7.3f} ms; best round {best:>13,.0f}; per CPU second {cpu_rate:>13,.0f}; "
              f"{statistics.median(faults):.0f} page faults a round; {delivered:.0%} of uploads delivered)", flush=True)
        report[f"device_rounds_per_s_{n}"] = rate
        report[f"median_round_device_rounds_per_s_{n}"] = median_rate
        report[f"cpu_time_device_rounds_per_s_{n}"] = cpu_rate
        report[f"page_faults_per_round_{n}"] = statistics.median(faults)
        if n == 10_000:  # the earlier way: every outcome held to the end
            kept_world = make_world(n)
            kept = timed(kept_world, kept_world.simulate_round, rounds, keep_all=True)
            kept_rate = sum(kept["sizes"][1:]) / sum(kept["seconds"][1:])
            kept_faults = statistics.median(kept["faults"][1:])
            print(f"{n:>7} devices, every outcome held: {kept_rate:>13,.0f} device-rounds/s "
                  f"({kept_faults:.0f} page faults a round)", flush=True)
            report[f"kept_outcomes_device_rounds_per_s_{n}"] = kept_rate
            report[f"kept_outcomes_page_faults_per_round_{n}"] = kept_faults
        # A round's cost in elementwise passes over its arrays: what it would cost at numpy's
        # memory bandwidth (~1 per numpy call) vs what it costs.
        report[f"round_in_elementwise_passes_{n}"] = statistics.median(seconds) / elementwise_pass_s(n)
        report[f"best_round_device_rounds_per_s_{n}"] = best
        if n == naive_size:
            slow_world = make_world(n)
            slow = timed(slow_world, NaiveWorld(slow_world).simulate_round, rounds, for_check=True)
            check_identical(times["summaries"], slow["summaries"])
            naive_rate = sum(slow["sizes"][1:]) / sum(slow["seconds"][1:])
            print(f"{n:>7} devices: one simpy process per device {naive_rate:>10,.0f} device-rounds/s: "
                  f"the World is {rate / naive_rate:.0f}x faster, identical outcomes", flush=True)
            report[f"naive_device_rounds_per_s_{n}"] = naive_rate
            report[f"speedup_vs_naive_{n}"] = rate / naive_rate

    # What bounds it: a round's fixed cost, and the draws a round cannot skip.
    small = make_world(10)
    fixed_s = min(timed(small, small.simulate_round, 50)["seconds"][1:])
    draws_n = sizes[-2] if len(sizes) > 2 else sizes[-1]
    draws_s = unskippable_draws_s(draws_n)
    build = stream_build_s()
    passes = ", ".join(f"{report[f'round_in_elementwise_passes_{n}']:.0f} at {n:,}" for n in sizes)
    print(f"bounds: a round of 10 devices takes {fixed_s * 1e3:.3f} ms (per-round overhead); "
          f"the fading and packet-error draws of {draws_n:,} devices {draws_s * 1e3:.3f} ms; "
          f"building their two streams {build['numpy_stream'] * 1e6:.1f} us as numpy_stream, "
          f"{build['stream_family'] * 1e6:.1f} us as the World's StreamFamily; "
          f"a round costs as many elementwise passes (c = a * b) as: {passes}", flush=True)
    report["fixed_round_s"] = fixed_s
    report[f"unskippable_draws_s_{draws_n}"] = draws_s
    report["stream_build_s"] = build

    state_b, peak_b = memory_per_device(memory_size)
    print(f"memory at {memory_size:,} devices (tracemalloc): World state {state_b:.0f} B/device, "
          f"a round's peak {peak_b:.0f} B/device", flush=True)
    report[f"state_bytes_per_device_{memory_size}"] = state_b
    report[f"round_peak_bytes_per_device_{memory_size}"] = peak_b
    report["memory_measure"] = "tracemalloc (numpy buffers included)"
    report["target_device_rounds_per_s_10000"] = TARGET_DEVICE_ROUNDS_PER_S
    # Met however a caller holds its outcomes: released as a run does, and all held.
    rates = [report.get(key, 0.0) for key in ("device_rounds_per_s_10000", "kept_outcomes_device_rounds_per_s_10000")]
    report["met"] = bool(min(rates) >= TARGET_DEVICE_ROUNDS_PER_S)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
