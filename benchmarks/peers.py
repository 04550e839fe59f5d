"""fedsim against pfl-research (Apple's simulator) on one FedAvg workload, whole process to whole process.

The workload is fedsim's default task at float32: the embedded 8x8 digits split IID (1,438 train,
359 test), the MLP 64-128-64-10, I=5 local SGD steps of batch 32 (lr 0.1, momentum 0.9, a fresh
optimizer each round), FedAvg weighted by examples, every round evaluated on the test set, at
three sizes (devices N, devices per round K, rounds R):

    1: 20 / 10 / 30      2: 100 / 50 / 20      3: 1,000 / 100 / 10

fedsim runs as ``python -m fedsim run`` (``engine=inprocess`` and ``engine=cohort``), pfl-research
as ``benchmarks/_peers_pfl.py`` under its own interpreter, each a fresh process timed from exec to
exit (imports, data and start-up included: what a user waits for). The repeats are interleaved
(each repeat runs every workload on every peer, the peers' order rotating), and the medians are
compared. Every process gets ``OMP_NUM_THREADS=1`` and ``MKL_NUM_THREADS=1`` (one torch thread;
the pfl side also calls ``torch.set_num_threads(1)`` and reports it).

pfl sees the same federation: the benchmark exports into an .npz fedsim's train/test arrays, each
device's examples (fedsim's partition), the MLP's initial weights (fedsim's seeded draw, loaded
strictly into the same architecture), the devices fedsim's first run aggregated in each round
(its ``devices.csv``) and the rows each of their local steps read (drawn from fedsim's own
(seed, device, round) generators as its local SGD draws them). pfl replays the device schedule
through its ``user_sampler``, trains ``local_num_steps=I`` steps on those batches with a fresh
``torch.optim.SGD`` (lr, momentum) per user, weights by data points (``WeightByDatapoints``),
applies the mean update with a central SGD of lr 1, and evaluates the test set after every round.
The two then compute the same FedAvg, and their accuracies agree round by round up to float32
summation order; "equal accuracy" is judged within two binomial standard errors of the final test
accuracy (generous for that: a real gap would show in ``max_round_accuracy_gap``). What is not
equal is the bookkeeping around it: fedsim prices every round in its World and writes its ledger,
pfl computes per-user metrics in round 0 and reads the .npz instead of loading and splitting digits.

    python benchmarks/peers.py [--repeats 3] [--workloads 1,2,3] [--quick] [--pfl-python PATH]

The last line is one JSON object: per workload each peer's median seconds and its runs, its final
accuracy, fedsim's best engine, ``pfl_over_fedsim`` (pfl's median over fedsim's best), and
``met`` (every ratio >= 2 at equal accuracy; null without pfl).

**pfl-research's interpreter.** ``--pfl-python PATH``, else ``$FEDSIM_PEERS_PFL_PYTHON``, else
this interpreter where it imports ``pfl`` (the ``peers`` extra: ``pip install -e ".[peers]"``),
else pfl is skipped with a note (``--pfl-python ''`` skips it too). pfl 0.6.0 (on PyPI as ``pfl``)
needs Python 3.10-3.12. Its own environment, outside the repository, keeps the CPU torch::

    python3 -m venv /work/peersenv
    /work/peersenv/bin/pip install torch==2.13.0          # first: the CPU build stays
    /work/peersenv/bin/pip install "pfl[pytorch]==0.6.0"  # torch already satisfied: not replaced
    FEDSIM_PEERS_PFL_PYTHON=/work/peersenv/bin/python python benchmarks/peers.py

**Other peers.** Flower's Simulation Engine (Ray) is timed by ``benchmarks/engines.py``. BlazeFL
3.0 needs Python >= 3.14, which fedsim's environment is not, so it gets its own the same way
(``python3.14 -m venv /work/blazeflenv``, a CPU torch first, then ``pip install "blazefl==3.0.*"``),
a ``_peers_blazefl.py`` beside ``_peers_pfl.py`` that reads the same .npz (arrays, partition,
schedule, step rows, initial weights, ``settings``) and prints the same last JSON line, and here
one more peer beside ``"pfl"``: an interpreter flag and a ``run_*`` function like ``run_pfl``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, sys.path[0] is benchmarks/ itself, where benchmarks/kernels.py would shadow the
# kernels package: put the repository root first.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import load_average, print_load_average  # noqa: E402

WORKLOADS = {"1": (20, 10, 30), "2": (100, 50, 20), "3": (1000, 100, 10)}  # N, K, rounds
QUICK_ROUNDS = 3
TORCH_THREADS = 1
# Every setting spelled out, so a change of fedsim's defaults cannot make the peers diverge.
TRAINING = {"local_iters": 5, "batch_size": 32, "lr": 0.1, "momentum": 0.9, "seed": 0}
TARGET_SPEEDUP = 2.0
PFL_SCRIPT = Path(__file__).resolve().parent / "_peers_pfl.py"
FEDSIM_ENGINES = ("inprocess", "cohort")


def thread_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(TORCH_THREADS), "MKL_NUM_THREADS": str(TORCH_THREADS)}


def fedsim_overrides(devices: int, per_round: int, rounds: int) -> list[str]:
    t = TRAINING
    return [
        f"world.num_devices={devices}", f"op.devices_per_round={per_round}", f"rounds={rounds}", f"seed={t['seed']}",
        "op.train_bits=32", "op.uplink_bits=32", f"op.local_iters={t['local_iters']}",
        f"train.batch_size={t['batch_size']}", f"train.lr={t['lr']}", f"train.momentum={t['momentum']}",
        "dataset=digits", "model=mlp", "partition=iid", "strategy=fedavg",
    ]


def timed(command: list[str], what: str) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of ``command`` from exec to exit, and its result (a failure stops the benchmark)."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=thread_env(), cwd=ROOT)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"peers.py: {what} failed (exit {done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
    return elapsed, done


def run_fedsim(engine: str, overrides: list[str], run_dir: Path) -> tuple[float, list[float]]:
    """(seconds, test accuracy after each round, 0 = the initial model) of one ``fedsim run``."""
    command = [sys.executable, "-m", "fedsim", "run", *overrides, f"engine={engine}", f"hydra.run.dir={run_dir}"]
    seconds, _ = timed(command, f"fedsim engine={engine}")
    with open(run_dir / "rounds.csv", newline="") as f:
        return seconds, [float(row["test_accuracy"]) for row in csv.DictReader(f)]


def run_pfl(python: str, export: Path) -> tuple[float, list[float]]:
    """(seconds, test accuracy after each round) of pfl-research on the exported federation."""
    seconds, done = timed([python, "-I", str(PFL_SCRIPT), str(export)], "pfl-research")  # -I: no repo path, no PYTHON* env
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["torch_threads"] != TORCH_THREADS:
        raise SystemExit(f"peers.py: pfl ran with {result['torch_threads']} torch threads, not {TORCH_THREADS}")
    return seconds, [float(a) for a in result["accuracies"]]


def aggregated_schedule(run_dir: Path):
    """The devices each round aggregated (delivered), in ledger order: rounds x K."""
    import numpy as np

    by_round: dict[int, list[int]] = {}
    with open(run_dir / "devices.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["delivered"] == "1":
                by_round.setdefault(int(row["round"]), []).append(int(row["device"]))
    sizes = {len(v) for v in by_round.values()}
    if len(sizes) != 1:
        raise SystemExit(f"peers.py: rounds aggregated {sorted(sizes)} devices; pfl's cohort has one size (drops would need another sampler)")
    return np.array([by_round[r] for r in sorted(by_round)], dtype=np.int64)


def fedsim_batches(num_examples: int, iterations: int, batch_size: int, generator) -> list:
    """The rows of a device's data each local step reads, drawn as fedsim's ``train_locally`` draws
    them: a permutation from the (seed, device, round) generator, a new one each pass. At 32 bits
    nothing else draws from that generator (stochastic rounding is off), so these are fedsim's."""
    import torch

    order, cursor, steps = torch.randperm(num_examples, generator=generator), 0, []
    for _ in range(iterations):
        if cursor >= num_examples:
            order, cursor = torch.randperm(num_examples, generator=generator), 0
        steps.append(order[cursor : cursor + batch_size].numpy())
        cursor += batch_size
    return steps


def export_federation(overrides: list[str], schedule, path: Path) -> int:
    """Write what pfl needs to train fedsim's federation (see _peers_pfl.py); return the test size."""
    import numpy as np

    import fedsim
    from fedsim.tasks import build_task
    from fedsim.torch_rng import torch_stream

    config = fedsim.compose(overrides)
    task = build_task(config)
    split, parts = task.data, task.partitions
    state = task.new_model().state_dict()
    steps = [rows for server_round, devices in enumerate(schedule.tolist(), start=1) for device in devices
             for rows in fedsim_batches(len(parts[device]), config.op.local_iters, config.train.batch_size,
                                        torch_stream(config.seed, "local-training", device, server_round))]
    settings = {**TRAINING, "eval_batch_size": config.eval_batch_size, "torch_threads": TORCH_THREADS}
    np.savez(
        path, x_train=split.train.x, y_train=split.train.y, x_test=split.test.x, y_test=split.test.y,
        part_index=np.concatenate(parts), part_offsets=np.cumsum([0] + [len(p) for p in parts]), schedule=schedule,
        step_rows=np.concatenate(steps), step_offsets=np.cumsum([0] + [len(r) for r in steps]),
        settings=np.array(json.dumps(settings)), **{f"init.{k}": v.numpy() for k, v in state.items()},
    )
    return len(split.test.y)


def pfl_interpreter(given: str | None) -> str | None:
    """The peer interpreter: the flag, else the env var, else this one where it has pfl; None: skip."""
    if given is None:
        given = os.environ.get("FEDSIM_PEERS_PFL_PYTHON")
    if given is None and importlib.util.find_spec("pfl") is not None:
        given = sys.executable
    return given or None


def pfl_versions(python: str) -> str:
    done = subprocess.run([python, "-I", "-c", "import pfl, torch; print(pfl.__version__, torch.__version__)"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"peers.py: error: --pfl-python={python} cannot import pfl and torch: {done.stderr.strip()[-300:]}")
    pfl_version, torch_version = done.stdout.split()
    return f"pfl {pfl_version}, torch {torch_version}"


def accuracy_tolerance(accuracy: float, test_size: int) -> float:
    """Two binomial standard errors of a test accuracy: the sampling noise of one run."""
    return 2 * math.sqrt(max(accuracy * (1 - accuracy), 1 / test_size) / test_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (medians are compared)")
    parser.add_argument("--workloads", default="1,2,3", help="comma-separated, of " + ", ".join(
        f"{k} ({n} devices, {k_} per round, {r} rounds)" for k, (n, k_, r) in WORKLOADS.items()))
    parser.add_argument("--quick", action="store_true", help=f"one repeat of the first workload, {QUICK_ROUNDS} rounds")
    parser.add_argument("--pfl-python", default=None, help="pfl-research's interpreter (default $FEDSIM_PEERS_PFL_PYTHON; '' skips pfl)")
    args = parser.parse_args()
    names = args.workloads.split(",")
    if not names or any(n not in WORKLOADS for n in names) or len(set(names)) != len(names):
        parser.error(f"--workloads={args.workloads} is not allowed: distinct names of {', '.join(WORKLOADS)}, comma-separated")
    if args.repeats < 1:
        parser.error(f"--repeats={args.repeats} is not allowed: an integer >= 1")
    sizes = {n: WORKLOADS[n] for n in names}
    if args.quick:
        args.repeats = 1
        sizes = {names[0]: (*WORKLOADS[names[0]][:2], QUICK_ROUNDS)}

    loads_start = print_load_average()
    python = pfl_interpreter(args.pfl_python)
    if python is None:
        print("pfl-research: skipped (no --pfl-python, $FEDSIM_PEERS_PFL_PYTHON, or pfl in this interpreter)", flush=True)
    else:
        print(f"pfl-research: {python} ({pfl_versions(python)})", flush=True)
    peers = [*FEDSIM_ENGINES, *(["pfl"] if python else [])]
    print(f"torch threads: {TORCH_THREADS} in every process (OMP_NUM_THREADS, MKL_NUM_THREADS); "
          f"whole-process wall time, {args.repeats} interleaved repeat(s)", flush=True)

    seconds = {n: {p: [] for p in peers} for n in sizes}
    accuracy = {n: {p: [] for p in peers} for n in sizes}
    exports: dict[str, Path] = {}
    test_sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="fedsim-peers-") as scratch:
        for repeat in range(args.repeats):
            order = peers[repeat % len(peers):] + peers[:repeat % len(peers)]  # repeat 0: in-process first
            for name, (devices, per_round, rounds) in sizes.items():
                overrides = fedsim_overrides(devices, per_round, rounds)
                for peer in order:
                    if peer == "pfl":
                        s, acc = run_pfl(python, exports[name])
                    else:
                        run_dir = Path(scratch) / f"w{name}-{peer}-{repeat}"
                        s, acc = run_fedsim(peer, overrides, run_dir)
                        if python and name not in exports:  # the federation pfl replays: fedsim's first run
                            exports[name] = Path(scratch) / f"w{name}.npz"
                            test_sizes[name] = export_federation(overrides, aggregated_schedule(run_dir), exports[name])
                    seconds[name][peer].append(s)
                    accuracy[name][peer].append(acc)
                    print(f"repeat {repeat + 1} workload {name} (N={devices}, K={per_round}, R={rounds}) {peer:<9}: "
                          f"{s:6.2f} s  accuracy {acc[-1]:.4f}", flush=True)

    rows = []
    for name, (devices, per_round, rounds) in sizes.items():
        row: dict = {"workload": name, "devices": devices, "devices_per_round": per_round, "rounds": rounds}
        for peer in peers:
            row[f"{peer}_s"] = statistics.median(seconds[name][peer])
            row[f"{peer}_runs_s"] = [round(s, 3) for s in seconds[name][peer]]
            row[f"{peer}_accuracy"] = accuracy[name][peer][0][-1]
            row[f"{peer}_deterministic"] = all(a == accuracy[name][peer][0] for a in accuracy[name][peer])
        best = min(FEDSIM_ENGINES, key=lambda e: row[f"{e}_s"])
        row["fedsim_best_engine"], row["fedsim_best_s"] = best, row[f"{best}_s"]
        if python:
            row["pfl_over_fedsim"] = row["pfl_s"] / row["fedsim_best_s"]
            row["accuracy_gap"] = abs(row["pfl_accuracy"] - row[f"{best}_accuracy"])
            row["accuracy_tolerance"] = accuracy_tolerance(row[f"{best}_accuracy"], test_sizes[name])
            row["equal_accuracy"] = row["accuracy_gap"] <= row["accuracy_tolerance"]
            row["max_round_accuracy_gap"] = max(abs(a - b) for a, b in zip(accuracy[name]["pfl"][0], accuracy[name][best][0], strict=True))
        rows.append(row)

    print(f"\n{'workload':<9}{'N':>6}{'K':>5}{'R':>4}" + "".join(f"{p + ' s':>13}" for p in peers)
          + f"{'best':>11}" + (f"{'pfl/best':>10}" if python else "") + "".join(f"{'acc ' + p:>15}" for p in peers))
    for row in rows:
        print(f"{row['workload']:<9}{row['devices']:>6}{row['devices_per_round']:>5}{row['rounds']:>4}"
              + "".join(f"{row[p + '_s']:>13.2f}" for p in peers) + f"{row['fedsim_best_engine']:>11}"
              + (f"{row['pfl_over_fedsim']:>10.2f}" if python else "") + "".join(f"{row[p + '_accuracy']:>15.4f}" for p in peers))
    if python:
        for row in rows:
            print(f"workload {row['workload']}: |pfl - fedsim {row['fedsim_best_engine']}| final accuracy {row['accuracy_gap']:.4f} "
                  f"(two binomial SEs: {row['accuracy_tolerance']:.4f}) -> {'equal' if row['equal_accuracy'] else 'NOT equal'}; "
                  f"largest gap over rounds 0..{row['rounds']}: {row['max_round_accuracy_gap']:.4f}")
    loads_end = load_average()
    print("load average at end (1, 5, 15 min): " + " ".join(f"{x:.2f}" for x in loads_end), flush=True)
    met = all(r["pfl_over_fedsim"] >= TARGET_SPEEDUP and r["equal_accuracy"] for r in rows) if python else None
    print(json.dumps({
        "benchmark": "peers", "torch_threads": TORCH_THREADS, "repeats": args.repeats, "quick": args.quick,
        "training": TRAINING, "peers": peers, "pfl_python": python, "workloads": rows,
        "target_speedup": TARGET_SPEEDUP, "met": met,
        "load_average_start": list(loads_start), "load_average_end": list(loads_end),
    }))


if __name__ == "__main__":
    main()
