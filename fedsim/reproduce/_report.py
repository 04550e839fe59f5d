"""Reproduction reports: checks of paper numbers against ours, as report.json and report.md.

A check is one of two kinds. A *constant* re-verifies what the reproduction stands on: the paper's
own constants and inputs (its n_min, its per-iteration energy) and fedsim's consistency checks of
the setup (the runs did what the scenario asks); it passes or fails, and a failed one means the
model is wrong. A *claim* tests a published result against fedsim's number: ``reproduced`` when
fedsim's number lies within the tolerance, ``gap`` when it does not (both numbers and the reason
are reported: a gap is a finding, never marked passed), ``not_checked`` when fedsim has no number
for it. ``fedsim reproduce`` fails (exit status 1) when a constant fails; a gap does not fail it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text


CONSTANT, CLAIM = "constant", "claim"
CLAIM_STATUSES = ("reproduced", "gap", "not_checked")


@dataclass
class Check:
    """One paper number next to ours. ``tolerance`` is relative unless ``absolute``. ``kind``:
    CONSTANT (the paper's constants and inputs, fedsim's setup) or CLAIM (a published result);
    ``reason``: why a claim is a gap, when it is one."""

    name: str
    paper: Any
    measured: Any
    tolerance: float
    passed: bool = field(init=False)  # fedsim's number is within the tolerance
    absolute: bool = False
    note: str = ""
    kind: str = CLAIM
    reason: str = ""

    def __post_init__(self) -> None:
        if self.kind not in (CONSTANT, CLAIM):
            raise ValueError(f"check kind {self.kind!r}: {CONSTANT!r} or {CLAIM!r}")
        self.passed = self.measured is not None and _within(self.paper, self.measured, self.tolerance, self.absolute)

    @property
    def status(self) -> str:
        """A claim's verdict: reproduced, gap or not_checked (a constant's: passed or failed)."""
        if self.kind == CONSTANT:
            return "passed" if self.passed else "failed"
        if self.measured is None:
            return "not_checked"
        return "reproduced" if self.passed else "gap"

    @property
    def gap_reason(self) -> str:
        """Why a claim is a gap: the builder's reason, else its note, else the tolerance."""
        return self.reason or self.note or "fedsim's number lies outside the tolerance of the paper's"

    def record(self) -> dict[str, Any]:
        """The check as report.json writes it: a constant's ``passed``, a claim's ``status`` (and
        for a gap its ``reason``), never a claim marked passed."""
        out = {"name": self.name, "paper": self.paper, "measured": self.measured, "tolerance": self.tolerance,
               "absolute": self.absolute, "note": self.note}
        if self.kind == CONSTANT:
            out["passed"] = self.passed
        else:
            out["status"] = self.status
            if self.status == "gap":
                out["reason"] = self.gap_reason
        return out


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
    def constants(self) -> list[Check]:
        return [c for c in self.checks if c.kind == CONSTANT]

    @property
    def claims(self) -> list[Check]:
        return [c for c in self.checks if c.kind == CLAIM]

    @property
    def constants_passed(self) -> bool:
        """Every constant holds: the reproduction stands (what ``fedsim reproduce``'s exit status says)."""
        return all(c.passed for c in self.constants)

    @property
    def passed(self) -> bool:
        """Every constant holds and every claim is reproduced (a gap or an unchecked claim: False)."""
        return self.constants_passed and all(c.status == "reproduced" for c in self.claims)

    def claim_counts(self) -> dict[str, int]:
        return {status: sum(c.status == status for c in self.claims) for status in CLAIM_STATUSES}

    def write(self, output_dir: Path) -> tuple[Path, Path]:
        payload = {
            "scenario": self.scenario,
            "constants_passed": self.constants_passed,
            "claims_status": self.claim_counts(),
            "constants": [c.record() for c in self.constants],
            "claims": [c.record() for c in self.claims],
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
        counts = self.claim_counts()
        lines += [f"Constants: {sum(c.passed for c in self.constants)} of {len(self.constants)} hold. Claims: "
                  + ", ".join(f"{counts[s]} {s.replace('_', ' ')}" for s in CLAIM_STATUSES) + ".", ""]
        if self.constants:
            lines += ["## Constants: the paper's inputs and fedsim's setup, re-verified", "",
                      "| check | paper | fedsim | tolerance | holds | note |", "|---|---|---|---|---|---|"]
            for c in self.constants:
                lines.append(f"| {c.name} | {_fmt(c.paper)} | {_fmt(c.measured)} | {_tol(c)} | {'yes' if c.passed else '**no**'} | {c.note} |")
            lines.append("")
        if self.claims:
            lines += ["## Claims: the paper's results against fedsim's", "",
                      "| claim | paper | fedsim | tolerance | status | note |", "|---|---|---|---|---|---|"]
            for c in self.claims:
                status = {"gap": "**gap**", "not_checked": "not checked"}.get(c.status, c.status)
                note = c.note
                if c.status == "gap":  # why, then what else the builder noted
                    note = c.gap_reason + (f" ({c.note})" if c.reason and c.note else "")
                lines.append(f"| {c.name} | {_fmt(c.paper)} | {_fmt(c.measured)} | {_tol(c)} | {status} | {note} |")
            lines.append("")
        for heading, body in self.sections:
            lines += [f"## {heading}", "", body.rstrip(), ""]
        if self.figures:
            lines += ["## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in self.figures] + [""]
        return "\n".join(lines)


def _tol(check: Check) -> str:
    return f"±{check.tolerance:g}" if check.absolute else f"±{check.tolerance:.0%}"


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
