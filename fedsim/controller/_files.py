"""The files of an operating-point study: pareto.csv, choice.json and pareto.png."""

from __future__ import annotations

import json
from pathlib import Path

from .._atomic import atomic_write_text
from ._study import VARIABLES, OperatingPointStudy, disagreement_explanation

PARETO_COLUMNS = (*VARIABLES, "energy_j", "rounds")


def write_study(study: OperatingPointStudy, output_dir: Path, *, plot: bool = True) -> list[Path]:
    rows = study.front_rows()
    lines = [",".join(PARETO_COLUMNS)] + [",".join(repr(row[c]) for c in PARETO_COLUMNS) for row in rows]
    written = [atomic_write_text(output_dir / "pareto.csv", "\n".join(lines) + "\n")]
    choice = {name: row for name, row in study.choices.items()}
    choice["disagreement"] = disagreement_explanation(study)  # the point, what it is and why its numbers are what they are
    choice["n_min"] = int(study.problem.n_min)
    written.append(atomic_write_text(output_dir / "choice.json", json.dumps(choice, indent=2) + "\n"))
    if plot:
        from analysis import plot_pareto

        written.append(
            plot_pareto(
                study.front.F,
                study.choices,
                output_dir / "pareto.png",
                exhaustive=None if study.exhaustive is None else study.exhaustive.F,
            )
        )
    return written
