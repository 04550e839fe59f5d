"""FedBuff against synchronous FedAvg with and without stragglers: simulated time and energy to
the target accuracy (``fedsim reproduce fedbuff_stragglers``).

Four runs on the same seed, data, devices and radio: each case of ``scenario.cases`` (a
``devices.straggler_fraction``) once with ``strategy=fedavg`` and once with ``fedbuff``.
Time to target is the ``sim_time_s`` of the first rounds.csv row at ``target_accuracy``: the
cumulative round latency for FedAvg, the event world's clock for FedBuff.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from analysis import plot_path

from .._run import run
from ..config import RunConfig
from ..config._strategy import STRATEGY_KEYS
from ._closed_loop import merged
from ._report import CONSTANT, Check, Report

FEDERATIONS = ("fedavg", "fedbuff")
DEFAULT_CASES = {"stragglers": 0.3, "no_stragglers": 0.0}


def time_to_target(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{round, sim_time_s, energy_cum_j}`` when the run reached its target accuracy, else None."""
    if summary["rounds_to_target"] is None:
        return None
    return {"round": summary["rounds_to_target"], "sim_time_s": summary["sim_time_to_target_s"], "energy_cum_j": summary["energy_to_target_j"]}


def reproduce_async_stragglers(config: RunConfig, output_dir: Path, *, progress: bool = False) -> Report:
    meta = config.scenario
    cases = dict(meta.get("cases", DEFAULT_CASES))
    target = config.target_accuracy
    data: dict[str, dict[str, Any]] = {}
    for case, fraction in cases.items():
        for name in FEDERATIONS:
            cfg = RunConfig.from_mapping(merged(config, {"strategy": _strategy(config, name), "devices": {"straggler_fraction": fraction}}))
            result = run(cfg, output_dir / "runs" / case / name, progress=progress)
            staleness = [d["staleness"] for d in result.devices if "staleness" in d]
            data.setdefault(case, {})[name] = {
                "to_target": time_to_target(result.summary),
                "total_energy_j": result.summary["total_energy_j"],
                "sim_time_s": result.summary["sim_time_s"],
                "final_accuracy": result.final_accuracy,
                "device_rows": len(result.devices),
                "max_staleness": max(staleness, default=None),
                "stale_rows": sum(s >= 1 for s in staleness),
            }
    report = Report(meta.get("name", "fedbuff_stragglers"), meta.get("title", "FedBuff vs synchronous FedAvg"))
    report.checks = [_faster_check(case, fraction, data[case], target) for case, fraction in cases.items()]
    fedbuff_stale = sum(runs["fedbuff"]["stale_rows"] for runs in data.values())
    report.checks.append(Check("FedBuff devices.csv has rows with staleness >= 1", 1.0, float(fedbuff_stale > 0), 0, absolute=True,
                               note=f"{fedbuff_stale} rows over the FedBuff runs", kind=CONSTANT))
    report.sections.append(("Simulated time and energy to the target accuracy", _table(cases, data, target, config)))
    report.headline = {
        "paper": "with heavy stragglers FedBuff reaches the target sooner than synchronous FedAvg; without, it does not",
        "measured": {case: {name: (runs[name]["to_target"] or {}).get("sim_time_s") for name in FEDERATIONS} for case, runs in data.items()},
    }
    figures: list[str] = []
    for case in cases:
        figures += [str(Path(f).relative_to(output_dir)) for f in plot_path(output_dir / "runs" / case) if Path(f).suffix == ".png"]
    report.figures = figures
    report.data = data
    return report


def _strategy(config: RunConfig, name: str) -> dict[str, Any]:
    """The scenario's strategy section, or strategy ``name`` with none of its keys."""
    if name == config.strategy.name:
        return {}
    return {**{key: None for key in STRATEGY_KEYS}, "name": name}


def _seconds(runs: Mapping[str, Any], name: str) -> float | None:
    reached = runs[name]["to_target"]
    return None if reached is None else reached["sim_time_s"]


def _faster_check(case: str, fraction: float, runs: Mapping[str, Any], target: float) -> Check:
    sync, buffered = _seconds(runs, "fedavg"), _seconds(runs, "fedbuff")
    sooner = buffered is not None and (sync is None or buffered < sync)
    expected = fraction > 0  # the classic result: FedBuff wins only when some devices straggle
    verb = "sooner" if expected else "not sooner"
    return Check(f"{case} (straggler_fraction={fraction:g}): FedBuff reaches {target:g} {verb} than FedAvg in simulated time",
                 float(expected), float(sooner), 0, absolute=True,
                 note=f"FedBuff {_cell(buffered)} s, FedAvg {_cell(sync)} s")


def _table(cases: Mapping[str, float], data: Mapping[str, Any], target: float, config: RunConfig) -> str:
    lines = [f"| case | strategy | time to {target:g} [s] | rounds to {target:g} | energy to {target:g} [J] | total energy [J] "
             "| simulated time [s] | final accuracy | max staleness |", "|---|---|---|---|---|---|---|---|---|"]
    for case, fraction in cases.items():
        for name in FEDERATIONS:
            r = data[case][name]
            reached = r["to_target"] or {}
            lines.append(f"| {case} ({fraction:g}) | {name} | {_cell(reached.get('sim_time_s'))} | {_cell(reached.get('round'))} "
                         f"| {_cell(reached.get('energy_cum_j'))} | {r['total_energy_j']:.4g} | {r['sim_time_s']:.4g} "
                         f"| {r['final_accuracy']:.3f} | {_cell(r['max_staleness'])} |")
    fed = config.strategy.params
    lines += ["", f"{config.rounds} aggregations each; FedBuff concurrency {fed.concurrency}, buffer {fed.buffer_size}, staleness "
              f"{fed.staleness} (a = {fed.staleness_a:g}); FedAvg {config.op.devices_per_round} devices per round; stragglers "
              f"{config.devices.straggler_slowdown:g}x slower; devices.macs_per_s = {config.devices.macs_per_s:g}."]
    return "\n".join(lines)


def _cell(value) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
