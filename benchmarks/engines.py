"""The same workload on the in-process engine and on Flower's Simulation Engine (Ray, ``flwr run .``).

Each engine runs the same overrides (one seed) and writes its ledger. The in-process run is timed
around ``fedsim.run`` (after a one-round warm-up, as a sweep's later jobs find their imports and
data cached); the Ray run around ``flwr run . --stream`` against a local simulation SuperLink
started beforehand in a private FLWR_HOME (its start-up is not counted; the simulation's own,
Ray and its ClientApp actors, is: every ``flwr run`` pays it). ``ledger_identical`` says whether
every engine wrote the in-process engine's rounds.csv and devices.csv, byte for byte.

    python benchmarks/engines.py [--rounds 5] [--devices 10] [--devices-per-round 5] [--quick]

An engine is one function ``(overrides, output_dir) -> seconds`` and one entry of ``ENGINES``.
The last line is one JSON object with ``{engine}_s``, ``speedup_vs_ray`` (Ray's time over the
in-process engine's) and ``ledger_identical``.
"""

from __future__ import annotations

import argparse
import json
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


ENGINES: dict[str, Callable[[list[str], Path], float]] = {"in_process": run_in_process, "ray": run_on_ray}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--devices-per-round", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of {', '.join(ENGINES)}")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 4 devices, 2 per round")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.devices, args.devices_per_round = 2, 4, 2
    engines = args.engines.split(",")
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or "in_process" not in engines:
        parser.error(f"--engines={args.engines} is not allowed: in_process and any of {', '.join(ENGINES)}")
    print_load_average()

    overrides = [
        f"rounds={args.rounds}", f"seed={args.seed}", f"world.num_devices={args.devices}",
        f"op.devices_per_round={args.devices_per_round}",
    ]
    times_s, ledgers = {}, {}
    with tempfile.TemporaryDirectory(prefix="fedsim-engines-") as scratch:
        for name in engines:
            out = Path(scratch) / name
            times_s[name] = ENGINES[name](overrides, out)
            ledgers[name] = {f: (out / f).read_bytes() for f in LEDGER_FILES}
            print(f"{name:<11}: {times_s[name]:.2f} s", flush=True)
    result = {
        "benchmark": "engines",
        "rounds": args.rounds,
        "devices": args.devices,
        "devices_per_round": args.devices_per_round,
        **{f"{name}_s": seconds for name, seconds in times_s.items()},
        "ledger_identical": all(ledger == ledgers["in_process"] for ledger in ledgers.values()),
    }
    if "ray" in times_s:
        result["speedup_vs_ray"] = times_s["ray"] / times_s["in_process"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
