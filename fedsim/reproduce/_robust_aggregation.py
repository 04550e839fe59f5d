"""Byzantine-robust aggregation against sign-flipping devices (``fedsim reproduce robust_aggregation``).

Each strategy of ``scenario.strategies`` (a name and its keys) runs once per case of
``scenario.cases`` (a ``faults`` section: fault-free, attacked), on the same seed, data, devices and
radio. The checks: FedAvg collapses under the attack, every robust rule stays within
``scenario.robust_tolerance`` of its own fault-free accuracy. Accuracy is the mean of the last
``scenario.tail_rounds`` evaluated rounds (the final round's alone is reported too): under attack a
round's accuracy depends on how many attackers that round drew, so one round is a noisy sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._run import run
from ..config import RunConfig
from ..config._strategy import STRATEGY_KEYS
from ._closed_loop import merged
from ._report import CONSTANT, Check, Report

DEFAULT_STRATEGIES: dict[str, dict[str, Any]] = {"fedavg": {}, "fedmedian": {}, "krum": {"num_malicious": 2}, "fedtrimmedavg": {}}
DEFAULT_CASES: dict[str, dict[str, Any]] = {"clean": {"byzantine_prob": 0.0}, "attacked": {"byzantine_prob": 0.2, "attack": "sign_flip"}}
FIGURE = "accuracy_vs_rounds.png"


def tail_accuracy(accuracy: list[float], tail: int) -> float:
    """The mean of the last ``tail`` accuracies (all of them when fewer)."""
    last = accuracy[-tail:]
    return float(sum(last) / len(last))


def reproduce_robust_aggregation(config: RunConfig, output_dir: Path, *, progress: bool = False) -> Report:
    meta = config.scenario
    strategies = {name: dict(keys or {}) for name, keys in dict(meta.get("strategies", DEFAULT_STRATEGIES)).items()}
    cases = {case: dict(faults or {}) for case, faults in dict(meta.get("cases", DEFAULT_CASES)).items()}
    clean, attacked = meta.get("clean_case", "clean"), meta.get("attacked_case", "attacked")
    tail = int(meta.get("tail_rounds", 5))
    data: dict[str, dict[str, Any]] = {}
    for name, keys in strategies.items():
        for case, faults in cases.items():
            strategy = {**{key: None for key in STRATEGY_KEYS}, "name": name, **keys}
            cfg = RunConfig.from_mapping(merged(config, {"strategy": strategy, "faults": faults}))
            result = run(cfg, output_dir / "runs" / case / name, progress=progress)
            accuracy = [float(r["test_accuracy"]) for r in result.rounds]
            flags = [d["byzantine"] for d in result.devices if d.get("byzantine") is not None]
            data.setdefault(name, {})[case] = {
                "final_accuracy": result.final_accuracy,
                "tail_accuracy": tail_accuracy(accuracy, tail),
                "accuracy": accuracy,
                "byzantine_rows": int(sum(int(f) for f in flags)),
                "device_rows": len(result.devices),
            }

    report = Report(meta.get("name", "robust_aggregation"), meta.get("title", "Robust aggregation against Byzantine devices"))
    collapse = float(meta.get("fedavg_collapse", 0.2))
    tolerance = float(meta.get("robust_tolerance", 0.05))
    for name in strategies:
        before, after = data[name][clean]["tail_accuracy"], data[name][attacked]["tail_accuracy"]
        if name == "fedavg":
            report.checks.append(Check(
                f"FedAvg collapses under attack: accuracy at least {collapse:g} below its fault-free run",
                [0.0, before - collapse], after, 0, absolute=True,
                note=f"fault-free {before:.3f}, attacked {after:.3f} (drop {before - after:.3f})"))
        else:
            report.checks.append(Check(
                f"{name} stays within {tolerance:g} of its fault-free accuracy under attack", before, after, tolerance,
                absolute=True, note=f"fault-free {before:.3f}, attacked {after:.3f} (change {after - before:+.3f})"))
    attacks = sum(data[name][attacked]["byzantine_rows"] for name in strategies)
    report.checks.append(Check("the attacked runs' devices.csv flag Byzantine uploads", 1.0, float(attacks > 0), 0, absolute=True,
                               note=f"{attacks} rows with byzantine=1 over the attacked runs", kind=CONSTANT))
    report.sections.append(("Accuracy per strategy, fault-free and attacked", _table(strategies, cases, data, tail, config)))
    report.headline = {
        "paper": "under sign-flipping devices FedAvg collapses; coordinate-wise median, Krum and trimmed mean do not",
        "measured": {name: {case: round(runs[case]["tail_accuracy"], 4) for case in cases} for name, runs in data.items()},
    }
    report.figures = [str(_plot(data, cases, clean, output_dir / FIGURE).relative_to(output_dir))]
    report.data = {"strategies": strategies, "cases": cases, "tail_rounds": tail, "runs": data}
    return report


def _table(strategies: Mapping[str, Any], cases: Mapping[str, Any], data: Mapping[str, Any], tail: int, config: RunConfig) -> str:
    lines = ["| strategy | keys | case | final accuracy | mean of last " + f"{tail} rounds | Byzantine uploads |", "|---|---|---|---|---|---|"]
    for name, keys in strategies.items():
        for case in cases:
            r = data[name][case]
            shown = ", ".join(f"{k}={v}" for k, v in keys.items()) or "-"
            lines.append(f"| {name} | {shown} | {case} | {r['final_accuracy']:.4f} | {r['tail_accuracy']:.4f} "
                         f"| {r['byzantine_rows']} of {r['device_rows']} |")
    cases_text = "; ".join(f"{case}: " + (", ".join(f"faults.{k}={v}" for k, v in faults.items()) or "no faults") for case, faults in cases.items())
    lines += ["", f"{config.rounds} rounds each, seed {config.seed}, {config.world.num_devices} devices, "
              f"{config.op.devices_per_round} per round; {cases_text}; faults.attack_scale={config.faults.attack_scale:g}."]
    return "\n".join(lines)


def _plot(data: Mapping[str, Any], cases: Mapping[str, Any], clean: str, path: Path) -> Path:
    from analysis._plot_common import ACCURACY_LABEL, ROUNDS_LABEL, colours, finish_axes, new_figure, save_figure

    with new_figure(figsize=(7, 4.5)) as (fig, ax):
        for colour, (name, runs) in zip(colours(len(data)), data.items()):
            for case in cases:
                accuracy = runs[case]["accuracy"]
                ax.plot(range(len(accuracy)), accuracy, color=colour, linestyle="-" if case == clean else "--",
                        label=f"{name} ({case})", linewidth=1.4)
        finish_axes(ax, xlabel=ROUNDS_LABEL, ylabel=ACCURACY_LABEL, title="Test accuracy: fault-free (solid) vs attacked (dashed)")
        ax.set_ylim(0, 1)
        save_figure(fig, path)
    return path
