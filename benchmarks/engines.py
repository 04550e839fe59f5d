"""The same workload on the sequential in-process engine, the cohort engine (``engine=cohort``)
and Flower's Simulation Engine (Ray, ``flwr run .``).

Each engine runs the same overrides (one seed) and writes its ledger, at each setting of devices N
and devices per round K (default 20:10, 100:50 and 1000:100; the digits MLP, 8-bit, 5 local
iterations, 10 rounds). The in-process runs are timed around ``fedsim.run`` (after a one-round
warm-up, as a sweep's later jobs find their imports and data cached); the Ray run around
``flwr run . --stream`` against a local simulation SuperLink started beforehand in a private
FLWR_HOME (its start-up is not counted; the simulation's own, Ray and its ClientApp actors, is:
every ``flwr run`` pays it). ``ledger_identical`` says whether Ray wrote the sequential engine's
rounds.csv and devices.csv byte for byte; ``cohort_same_world`` whether the cohort's ledger has
the same devices, times, energies, drops and payloads (its float32 losses and accuracies carry
the batched kernels' rounding, which a stochastic rounding can amplify over rounds). ``cohort_max_rel_diff`` compares the cohort's round-1 updates with the sequential
engine's in float64 (``float64_equivalence``); ``overhead_vs_plain`` is
``benchmarks/engine_overhead.py``'s ``overhead_ratio`` (run as it is). Peak memory per device is
the growth of the process's peak RSS during a cohort run over its devices. ``--repeats R`` times
the engines R times in interleaved order (sequential, cohort, sequential, ...) and reports each
engine's median, so a burst of load on a shared machine moves one sample, not the ratio; the
per-repeat ratios are printed beside it.

    python benchmarks/engines.py [--rounds 10] [--settings 20:10,100:50,1000:100] [--repeats 3] [--quick]

An engine is one function ``(overrides, output_dir) -> seconds`` and one entry of ``ENGINES``.
The last line is one JSON object: per setting ``{engine}_s`` (medians), and at the reference setting
(100 clients per round, else 100 devices, else the largest) ``speedup_vs_ray`` (Ray's time over the cohort's),
``cohort_speedup_vs_sequential``, ``ledger_identical`` (every setting), ``cohort_max_rel_diff``,
``overhead_vs_plain`` and ``peak_memory_per_device_bytes``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, sys.path[0] is benchmarks/ itself, where benchmarks/kernels.py would shadow the
# kernels package: put the repository root first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_load_average  # noqa: E402

LEDGER_FILES = ("rounds.csv", "devices.csv")


def run_in_process(overrides: list[str], output_dir: Path) -> float:
    import fedsim

    config = fedsim.compose(overrides)
    fedsim.run(fedsim.compose([*overrides, "rounds=1"]))  # warm-up: imports, data, caches
    started = time.perf_counter()
    fedsim.run(config, output_dir)
    return time.perf_counter() - started


def run_cohort(overrides: list[str], output_dir: Path) -> float:
    return run_in_process([*overrides, "engine=cohort"], output_dir)


def run_on_ray(overrides: list[str], output_dir: Path) -> float:
    import fedsim
    from fedsim._flower_processes import FlowerProcesses, start_simulation_superlink

    devices = fedsim.compose(overrides).world.num_devices
    with tempfile.TemporaryDirectory(prefix="fedsim-flwr-home-") as home, FlowerProcesses(Path(home)) as flower:
        start_simulation_superlink(flower)
        started = time.perf_counter()
        done = flower.flwr(
            "run", ".", "--run-config", f'overrides="{" ".join(overrides)}" output-dir="{output_dir}"',
            "--federation-config", f"num-supernodes={devices}", "--stream",
        )
        elapsed = time.perf_counter() - started
    if done.returncode != 0 or not (output_dir / "summary.json").is_file():
        raise SystemExit(f"flwr run failed (exit {done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
    return elapsed


ENGINES: dict[str, Callable[[list[str], Path], float]] = {"in_process": run_in_process, "cohort": run_cohort, "ray": run_on_ray}
# The setting whose ratios are the headline numbers: 100 clients per round (the issue's), else 100 devices.
REFERENCE_PER_ROUND = 100
REFERENCE_DEVICES = 100


def _settings(text: str) -> list[tuple[int, int]]:
    try:
        pairs = [tuple(int(v) for v in item.split(":")) for item in text.split(",")]
    except ValueError:
        pairs = []
    if not pairs or any(len(p) != 2 or not 1 <= p[1] <= p[0] for p in pairs):
        raise SystemExit(f"engines.py: error: --settings={text} is not allowed: N:K pairs with 1 <= K <= N, comma-separated")
    return pairs


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_bytes(field: str) -> int | None:
    """VmRSS (now) or VmHWM (peak) of this process, from /proc (None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


LEARNING_COLUMNS = ("train_loss", "test_loss", "test_accuracy")  # float32 learning: rounding-level drift


def _same_world(ours: dict[str, bytes], theirs: dict[str, bytes]) -> bool:
    """The same rows but for the learning columns: devices, times, energies, drops, payloads."""
    import csv
    import io

    def rows(data: bytes) -> list[dict[str, str]]:
        return [{k: v for k, v in row.items() if k not in LEARNING_COLUMNS} for row in csv.DictReader(io.StringIO(data.decode()))]

    return all(rows(ours[f]) == rows(theirs[f]) for f in LEDGER_FILES)


def _overhead_vs_plain(rounds: int, repeats: int) -> float | None:
    """``overhead_ratio`` of benchmarks/engine_overhead.py (its last line), run as a script."""
    import subprocess

    script = Path(__file__).resolve().parent / "engine_overhead.py"
    done = subprocess.run([sys.executable, str(script), "--rounds", str(rounds), "--repeats", str(repeats)], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"engine_overhead.py failed (exit {done.returncode}): {done.stderr[-500:]}", flush=True)
        return None
    return float(json.loads(done.stdout.strip().splitlines()[-1])["overhead_ratio"])


def _cohort_max_rel_diff(overrides: list[str]) -> float:
    """float64 cohort vs sequential updates of the devices of round 1 (first K devices)."""
    import fedsim
    from fedsim.tasks import build_task
    from fedsim.tasks._cohort_training import float64_equivalence

    config = fedsim.compose(overrides)
    task = build_task(config)
    devices = list(range(config.op.devices_per_round))
    return float(float64_equivalence(task, devices, 1, train_bits=config.op.train_bits, iterations=config.op.local_iters)["cohort_max_rel_diff"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--settings", default="20:10,100:50,1000:100", help="devices:devices_per_round pairs, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of {', '.join(ENGINES)}")
    parser.add_argument("--overhead-repeats", type=int, default=5, help="repeats of engine_overhead.py (0: skip it)")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads of the in-process engines (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timings of each engine per setting; medians are reported")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 4 devices, 2 per round, one repeat, one overhead repeat")
    args = parser.parse_args()
    if args.torch_threads > 0:
        # On a shared machine, busy-waiting intra-op threads of a descheduled peer cost more than
        # they give a small MLP; Ray's ClientApp actors keep their own setting.
        import torch

        torch.set_num_threads(args.torch_threads)
    if args.quick:
        args.rounds, args.settings, args.overhead_repeats, args.repeats = 2, "4:2", 1, 1
    if args.repeats < 1:
        parser.error(f"--repeats={args.repeats} is not allowed: an integer >= 1")
    settings = _settings(args.settings)
    engines = args.engines.split(",")
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or "in_process" not in engines:
        parser.error(f"--engines={args.engines} is not allowed: in_process and any of {', '.join(ENGINES)}")
    print_load_average()

    rows = []
    with tempfile.TemporaryDirectory(prefix="fedsim-engines-") as scratch:
        for devices, per_round in settings:
            overrides = [
                f"rounds={args.rounds}", f"seed={args.seed}", f"world.num_devices={devices}",
                f"op.devices_per_round={per_round}",
            ]
            row: dict = {"devices": devices, "devices_per_round": per_round}
            ledgers, seconds = {}, {name: [] for name in engines}
            for repeat in range(args.repeats):
                for name in engines:
                    out = Path(scratch) / f"{name}-{devices}-{per_round}-{repeat}"
                    resettable = name == "cohort" and repeat == 0 and _reset_peak_rss()
                    before = _rss_bytes("VmRSS")
                    seconds[name].append(ENGINES[name](overrides, out))
                    peak = _rss_bytes("VmHWM")
                    if resettable and before is not None and peak is not None:
                        row["peak_memory_per_device_bytes"] = max(0, peak - before) / devices
                    ledgers[name] = {f: (out / f).read_bytes() for f in LEDGER_FILES}
                    print(f"N={devices:<5} K={per_round:<4} {name:<11}: {seconds[name][-1]:.2f} s", flush=True)
            for name in engines:
                row[f"{name}_s"] = statistics.median(seconds[name])
            if "cohort" in seconds and args.repeats > 1:
                row["cohort_speedup_per_repeat"] = [round(a / b, 3) for a, b in zip(seconds["in_process"], seconds["cohort"])]
            if "ray" in ledgers:
                row["ledger_identical"] = ledgers["ray"] == ledgers["in_process"]
            if "cohort" in ledgers:
                row["cohort_same_world"] = _same_world(ledgers["cohort"], ledgers["in_process"])
                row["cohort_speedup_vs_sequential"] = row["in_process_s"] / row["cohort_s"]
                if "ray" in ledgers:
                    row["speedup_vs_ray"] = row["ray_s"] / row["cohort_s"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    reference = next((r for r in rows if r["devices_per_round"] == REFERENCE_PER_ROUND),
                     next((r for r in rows if r["devices"] == REFERENCE_DEVICES), max(rows, key=lambda r: r["devices"])))
    result = {
        "benchmark": "engines",
        "rounds": args.rounds,
        "repeats": args.repeats,
        "torch_threads": args.torch_threads or None,
        "settings": rows,
        "reference_devices": reference["devices"],
        **{k: reference[k] for k in ("speedup_vs_ray", "cohort_speedup_vs_sequential", "peak_memory_per_device_bytes") if k in reference},
    }
    if any("ledger_identical" in r for r in rows):
        result["ledger_identical"] = all(r.get("ledger_identical", True) for r in rows)
    if "cohort" in engines:
        ref_overrides = [f"seed={args.seed}", f"world.num_devices={reference['devices']}", f"op.devices_per_round={reference['devices_per_round']}"]
        result["cohort_max_rel_diff"] = _cohort_max_rel_diff(ref_overrides)
    if args.overhead_repeats > 0:
        result["overhead_vs_plain"] = _overhead_vs_plain(args.rounds, args.overhead_repeats)
    print(json.dumps(result))

if __name__ == "__main__":
    main()
