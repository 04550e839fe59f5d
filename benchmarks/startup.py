"""Time to the first round of `fedsim run`, with where it goes.

Each repeat starts a fresh `python -m fedsim run rounds=1 ...` (the default experiment: digits,
the MLP, 20 devices) and watches its stderr: the progress bar's first line is printed when the
rounds are about to start (after the config is validated, the data loaded, the model built and
profiled, the World and the policy made). That moment, from the process's start, is the time to
first round; the process's exit is the end of the whole one-round run.

The baseline, measured in the same run, is the floor no run can go under: a process that only
imports torch and Flower's Message API (what training and the in-process engine need). One
`python -X importtime` run of the same command gives the breakdown by top-level package.

    python benchmarks/startup.py [--repeats 5] [--quick] [-- extra overrides]

The last line is one JSON object: ``time_to_first_round_s`` (median), ``floor_s`` (median),
``ratio_to_floor``, ``target_s`` (2.5), ``met``, ``whole_run_s`` and ``import_breakdown_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_load_average  # noqa: E402

TARGET_S = 2.5
FIRST_ROUND_MARK = b"fedsim rounds:"  # the progress bar's first write
FLOOR = "import torch, flwr.app"
# Packages reported on their own in the breakdown; the rest add up under "other".
BREAKDOWN = ("torch", "flwr", "hydra", "omegaconf", "numpy", "fedsim", "analysis", "scipy", "sklearn", "matplotlib", "pandas")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # a plain user's run: fedsim chooses its threads itself
    env["PYTHONUNBUFFERED"] = "1"
    return env


def time_to_first_round(overrides: list[str], run_dir: Path) -> tuple[float, float]:
    """Seconds from the process's start to its first round, and to its exit."""
    command = [sys.executable, "-m", "fedsim", "run", "rounds=1", f"hydra.run.dir={run_dir}", *overrides]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    first_round_s = None
    seen = b""
    while True:
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            break
        if first_round_s is None:
            seen += chunk
            if FIRST_ROUND_MARK in seen:
                first_round_s = time.perf_counter() - started
    code = process.wait()
    whole_s = time.perf_counter() - started
    if code != 0 or first_round_s is None:
        raise SystemExit(f"startup: {' '.join(command)} exited {code}: {seen.decode(errors='replace')[-500:]}")
    return first_round_s, whole_s


def floor_s() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", FLOOR], check=True, env=_env())
    return time.perf_counter() - started


def import_breakdown(overrides: list[str], run_dir: Path) -> dict[str, float]:
    """Seconds of import by top-level package (``-X importtime`` self times; it inflates them a
    little), for one run of the same command."""
    command = [sys.executable, "-X", "importtime", "-m", "fedsim", "run", "rounds=1", f"hydra.run.dir={run_dir}", *overrides]
    err = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env()).stderr
    totals: dict[str, float] = {}
    for match in re.finditer(r"^import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", err, re.M):
        top = match.group(2).split(".")[0]
        name = top if top in BREAKDOWN else "other"
        totals[name] = totals.get(name, 0.0) + int(match.group(1)) * 1e-6
    return {name: round(totals.get(name, 0.0), 3) for name in (*BREAKDOWN, "other")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 repeats")
    parser.add_argument("overrides", nargs="*", help="extra fedsim run overrides (after --)")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    print_load_average()
    firsts, wholes, floors = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        floor_s()  # warm the file cache for both sides
        for i in range(repeats):  # interleaved: the floor and the run see the same spell of load
            floors.append(floor_s())
            first, whole = time_to_first_round(args.overrides, Path(tmp) / f"run{i}")
            firsts.append(first)
            wholes.append(whole)
            print(f"repeat {i + 1}: floor {floors[-1]:.2f} s, first round at {first:.2f} s, whole run {whole:.2f} s", flush=True)
        breakdown = import_breakdown(args.overrides, Path(tmp) / "importtime")
    first, floor, whole = statistics.median(firsts), statistics.median(floors), statistics.median(wholes)
    print(f"imports by package (-X importtime, s): " + ", ".join(f"{k} {v:.2f}" for k, v in breakdown.items() if v >= 0.005))
    print(f"time to first round: {first:.2f} s (median of {repeats}); floor ({FLOOR}): {floor:.2f} s; "
          f"ratio {first / floor:.2f}; target {TARGET_S} s: {'met' if first <= TARGET_S else 'not met'}")
    print(json.dumps({
        "time_to_first_round_s": round(first, 3), "floor_s": round(floor, 3), "ratio_to_floor": round(first / floor, 3),
        "target_s": TARGET_S, "met": first <= TARGET_S, "whole_run_s": round(whole, 3), "repeats": repeats,
        "time_to_first_round_runs_s": [round(x, 3) for x in firsts], "import_breakdown_s": breakdown,
    }))


if __name__ == "__main__":
    main()
