"""Fixed-width plain-text tables for end-of-run / end-of-sweep summaries."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

__all__ = ["summary_table", "format_cell"]

_MISSING_CELL = "-"


def format_cell(value: Any) -> str:
    """Render one cell: ``None``/nan -> ``-``, floats with 6 significant digits."""
    if value is None:
        return _MISSING_CELL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return _MISSING_CELL
        return f"{value:.6g}"
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return format_cell(value.item())
        except (TypeError, ValueError):
            pass
    return str(value).replace("\n", " ")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iuf"


def summary_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Format ``rows`` as a fixed-width table with the given ``columns``.

    A header line, a dashed rule, then one line per row.  Numeric columns are
    right-aligned, others left-aligned; missing keys and ``None``/nan print as
    ``-``.  No trailing newline.
    """
    columns = list(columns)
    if not columns:
        return ""
    cells = [[format_cell(row.get(c)) for c in columns] for row in rows]
    numeric = [
        all(_is_number(row.get(c)) or row.get(c) is None for row in rows)
        and any(_is_number(row.get(c)) for row in rows)
        for c in columns
    ]
    widths = [
        max([len(str(c))] + [len(line[j]) for line in cells]) for j, c in enumerate(columns)
    ]

    def render(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)
        ]
        return "  ".join(parts).rstrip()

    lines = [render([str(c) for c in columns]), "  ".join("-" * w for w in widths)]
    lines.extend(render(line) for line in cells)
    return "\n".join(lines)
