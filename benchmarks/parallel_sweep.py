"""A 2-job joblib sweep against a lone job: does a parallel sweep slow each of its jobs down?

The lone job is `fedsim run` of the default experiment (digits, the MLP, 20 devices, 10 per round,
30 rounds); the sweep runs the same experiment for two seeds at once
(`fedsim run -m seed=0,1 hydra/launcher=joblib hydra.launcher.n_jobs=2`). A job's time is its own
``summary.json`` ``wall_time_s`` (its rounds, not the process's start-up), so the ratio measures
how much the two jobs slow each other. Torch's threads are fedsim's choice; the same sweep with
every job forced to one intra-op thread per core (``torch_threads`` = the CPU count, which is
torch's inherited default) is the baseline, measured in the same run.

    python benchmarks/parallel_sweep.py [--repeats 2] [--rounds 30] [--quick]

The last line is one JSON object: ``lone_s``, ``sweep_job_s``, ``ratio`` (sweep job / lone, the
target is <= 1.3), ``inherited_sweep_job_s``, ``inherited_ratio``, ``met`` and the CPU count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_load_average  # noqa: E402

TARGET_RATIO = 1.3


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # the launcher sets its workers' share itself
    return env


def _wall_s(run_dir: Path) -> float:
    return float(json.loads((run_dir / "summary.json").read_text())["wall_time_s"])


def _fedsim(args: list[str]) -> None:
    """Run a fedsim command quietly (progress bars off the benchmark's output); its errors if it fails."""
    done = subprocess.run([sys.executable, "-m", "fedsim", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    if done.returncode != 0:
        raise SystemExit(f"parallel_sweep: fedsim {' '.join(args)} exited {done.returncode}: {done.stderr[-800:]}")


def lone_job_s(overrides: list[str], run_dir: Path) -> float:
    _fedsim(["run", *overrides, f"hydra.run.dir={run_dir}"])
    return _wall_s(run_dir)


def sweep_job_s(overrides: list[str], sweep_dir: Path) -> list[float]:
    _fedsim(["run", "-m", *overrides, "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}"])
    return [_wall_s(sweep_dir / str(job)) for job in (0, 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="1 repeat of 10 rounds")
    args = parser.parse_args()
    repeats, rounds = (1, 10) if args.quick else (args.repeats, args.rounds)
    print_load_average()
    cores = os.cpu_count() or 1
    overrides = [f"rounds={rounds}"]
    inherited = [*overrides, f"torch_threads={cores}"]
    lone, swept, swept_inherited = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):  # interleaved: each kind sees the same spells of load
            lone.append(lone_job_s(overrides, Path(tmp) / f"lone{i}"))
            swept += sweep_job_s(overrides, Path(tmp) / f"sweep{i}")
            swept_inherited += sweep_job_s(inherited, Path(tmp) / f"inherited{i}")
            print(f"repeat {i + 1}: lone {lone[-1]:.2f} s; sweep jobs {swept[-2]:.2f}, {swept[-1]:.2f} s; "
                  f"sweep jobs at {cores} threads {swept_inherited[-2]:.2f}, {swept_inherited[-1]:.2f} s", flush=True)
    lone_s, job_s, inherited_s = statistics.median(lone), statistics.median(swept), statistics.median(swept_inherited)
    ratio, inherited_ratio = job_s / lone_s, inherited_s / lone_s
    print(f"lone job {lone_s:.2f} s; 2-job sweep, each job {job_s:.2f} s: ratio {ratio:.2f} (target <= {TARGET_RATIO}); "
          f"with {cores} threads per job (torch's default) {inherited_s:.2f} s: ratio {inherited_ratio:.2f}")
    print(json.dumps({
        "lone_s": round(lone_s, 3), "sweep_job_s": round(job_s, 3), "ratio": round(ratio, 3), "target_ratio": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO, "inherited_sweep_job_s": round(inherited_s, 3), "inherited_ratio": round(inherited_ratio, 3),
        "cpu_count": cores, "rounds": rounds, "repeats": repeats,
    }))


if __name__ == "__main__":
    main()
