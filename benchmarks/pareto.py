"""NBI against NSGA-II on smooth test problems and on the Green-QFL design problem.

For each problem NBI runs first; NSGA-II (pymoo) then gets ``--budget-factor`` (default 10) times
NBI's evaluation count and a population of as many points as NBI's front, so both return sets of
the same size. Printed per problem: hypervolume of each set and their ratio (NBI / NSGA-II, both
normalized by the same ideal and nadir with reference point 1.1 per objective: the true front's
ideal/nadir where it is known, the union of both sets otherwise), IGD against the known front,
evaluation counts and wall-clock seconds (measured in this run, not asserted).

    python benchmarks/pareto.py [--seed 0] [--budget-factor 10] [--sigma PATH]

Problems: ZDT1 and ZDT2 (30 variables), DTLZ2 (3 objectives, 12 variables; plain NBI and NBI with
the CHIM expanded by 0.1, ``chim_expansion``, which reaches the front's edges), Green-QFL relaxed
(I, K, m, n continuous; σ_i from scenarios/data/green_qfl_sigma.txt or ``--sigma``, skipped
if that file is missing).
The last line is one JSON object: per problem "hv_ratio", "igd_nbi"/"igd_nsga2" (where a true
front is known), "evals_nbi", "evals_nsga2", "time_nbi_s", "time_nsga2_s".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.indicators.igd import IGD
from pymoo.problems import get_problem

# Run as a script, sys.path[0] is benchmarks/ itself, where benchmarks/kernels.py would shadow the
# kernels package: put the repository root first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_load_average  # noqa: E402

from fedsim._compose import scenarios_dir
from fedsim.optimize import GreenQflProblem, ParetoResult, nbi, nsga2_front
from fedsim.theory import QflModel

# The release's 50 sigma_i, shipped with the scenarios.
DEFAULT_SIGMA = scenarios_dir() / "data" / "green_qfl_sigma.txt"


def hypervolume(F: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> float:
    scaled = (F - ideal) / np.where(nadir > ideal, nadir - ideal, 1.0)
    return float(HV(ref_point=np.full(F.shape[1], 1.1))(scaled))


def compare(name: str, problem, n_points: int, seed: int, factor: int, **nbi_options) -> dict:
    front = problem.pareto_front() if name != "green_qfl" else None
    nbi_res: ParetoResult = nbi(problem, n_points=n_points, seed=seed, **nbi_options)
    budget = factor * nbi_res.n_evals
    ga_res = nsga2_front(problem, budget, pop_size=max(len(nbi_res), 4), seed=seed)
    if front is not None:
        ideal, nadir = front.min(axis=0), front.max(axis=0)
    else:
        both = np.vstack([nbi_res.F, ga_res.F])
        ideal, nadir = both.min(axis=0), both.max(axis=0)
    hv_nbi = hypervolume(nbi_res.F, ideal, nadir)
    hv_ga = hypervolume(ga_res.F, ideal, nadir)
    row = {
        "hv_nbi": hv_nbi,
        "hv_nsga2": hv_ga,
        "hv_ratio": hv_nbi / hv_ga if hv_ga > 0 else float("inf"),
        "points_nbi": len(nbi_res),
        "points_nsga2": len(ga_res),
        "evals_nbi": nbi_res.n_evals,
        "evals_nsga2": ga_res.n_evals,
        "time_nbi_s": round(nbi_res.time_s, 3),
        "time_nsga2_s": round(ga_res.time_s, 3),
    }
    if front is not None:
        igd = IGD(front)
        row["igd_nbi"] = float(igd(nbi_res.F))
        row["igd_nsga2"] = float(igd(ga_res.F))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-factor", type=int, default=10, help="NSGA-II evals / NBI evals")
    parser.add_argument("--sigma", type=Path, default=DEFAULT_SIGMA, help="green_qfl_sigma.txt")
    args = parser.parse_args()
    print_load_average()

    dtlz2 = get_problem("dtlz2", n_var=12, n_obj=3)
    cases = [
        ("zdt1", get_problem("zdt1", n_var=30), 50, {}),
        ("zdt2", get_problem("zdt2", n_var=30), 50, {}),
        ("dtlz2", dtlz2, 91, {}),
        # Plain NBI's normals from the CHIM miss DTLZ2's edges; the expanded CHIM covers them.
        ("dtlz2_extended_chim", dtlz2, 91, {"chim_expansion": 0.1}),
    ]
    if args.sigma.is_file():
        model = QflModel.green_qfl_paper(args.sigma, drops=10_000, seed=args.seed)
        cases.append(("green_qfl", GreenQflProblem(model), 50, {}))
    else:
        print(f"green_qfl skipped: {args.sigma} not found")

    results = {}
    header = (
        f"{'problem':20} {'HV nbi':>8} {'HV nsga2':>9} {'ratio':>6} {'IGD nbi':>8} "
        f"{'IGD nsga2':>9} {'evals nbi':>10} {'evals nsga2':>12} {'s nbi':>6} {'s nsga2':>8}"
    )
    print(header, flush=True)
    for name, problem, n_points, options in cases:
        row = compare(name, problem, n_points, args.seed, args.budget_factor, **options)
        results[name] = row
        igd_nbi = f"{row['igd_nbi']:.4f}" if "igd_nbi" in row else "-"
        igd_ga = f"{row['igd_nsga2']:.4f}" if "igd_nsga2" in row else "-"
        print(
            f"{name:20} {row['hv_nbi']:8.4f} {row['hv_nsga2']:9.4f} {row['hv_ratio']:6.3f} "
            f"{igd_nbi:>8} {igd_ga:>9} {row['evals_nbi']:10d} {row['evals_nsga2']:12d} "
            f"{row['time_nbi_s']:6.2f} {row['time_nsga2_s']:8.2f}",
            flush=True,
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
