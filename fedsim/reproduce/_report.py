"""Reproduction reports: checks of paper numbers against ours, as report.json and report.md."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text


@dataclass
class Check:
    """One paper number next to ours. ``tolerance`` is relative unless ``absolute``."""

    name: str
    paper: Any
    measured: Any
    tolerance: float
    passed: bool = field(init=False)
    absolute: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        self.passed = _within(self.paper, self.measured, self.tolerance, self.absolute)


def _within(paper: Any, measured: Any, tolerance: float, absolute: bool) -> bool:
    if isinstance(paper, (list, tuple)) and len(paper) == 2 and not isinstance(measured, (list, tuple)):
        low, high = paper  # a range the measured value must lie in
        return low - tolerance <= measured <= high + tolerance
    if isinstance(paper, (list, tuple)):
        return len(paper) == len(measured) and all(_within(p, m, tolerance, absolute) for p, m in zip(paper, measured))
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return False
    bound = tolerance if absolute else tolerance * abs(paper)
    return abs(measured - paper) <= bound + 1e-12


@dataclass
class Report:
    scenario: str
    title: str
    checks: list[Check] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, markdown body)
    figures: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    headline: dict[str, Any] | None = None  # {"paper": ..., "measured": ...}: the paper's claim and ours

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def write(self, output_dir: Path) -> tuple[Path, Path]:
        payload = {
            "scenario": self.scenario,
            "passed": self.passed,
            "checks": [asdict(c) for c in self.checks],
            "figures": self.figures,
            "data": self.data,
        }
        if self.headline is not None:
            payload["headline"] = self.headline
        json_path = atomic_write_text(output_dir / "report.json", json.dumps(payload, indent=2, default=_plain) + "\n")
        md_path = atomic_write_text(output_dir / "report.md", self.markdown())
        return json_path, md_path

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", f"Scenario: `{self.scenario}`", ""]
        if self.headline is not None:
            lines += [f"**Headline.** paper: {_fmt(self.headline.get('paper'))}; fedsim: {_fmt(self.headline.get('measured'))}. "
                      + str(self.headline.get("note", "")), ""]
        lines += ["## Checks: paper vs fedsim", "", "| check | paper | fedsim | tolerance | passed | note |", "|---|---|---|---|---|---|"]
        for c in self.checks:
            tol = f"±{c.tolerance:g}" if c.absolute else f"±{c.tolerance:.0%}"
            lines.append(f"| {c.name} | {_fmt(c.paper)} | {_fmt(c.measured)} | {tol} | {'yes' if c.passed else '**no**'} | {c.note} |")
        lines.append("")
        for heading, body in self.sections:
            lines += [f"## {heading}", "", body.rstrip(), ""]
        if self.figures:
            lines += ["## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in self.figures] + [""]
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
