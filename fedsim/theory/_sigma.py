"""Per-device gradient standard deviations σ_i: read from a file and checked (numpy only, so the
config can validate ``theory.sigma_path`` at start without importing the models)."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np

from fedsim.errors import ConfigError


def load_sigma(path: str | PathLike[str]) -> np.ndarray:
    """Per-device gradient standard deviations σ_i: one float per line, trailing commas allowed."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError("theory.sigma_path", str(path), "an existing text file, one σ_i per line")
    values = []
    for number, line in enumerate(file.read_text(errors="replace").splitlines(), start=1):
        text = line.strip().rstrip(",").strip()
        if not text:
            continue
        try:
            values.append(float(text))
        except ValueError:
            raise ConfigError(
                f"theory.sigma_path line {number}", text, "a float (optionally followed by ',')"
            ) from None
    sigma = np.array(values, dtype=float)
    check_sigma(sigma, str(path))
    return sigma


def check_sigma(sigma: np.ndarray, shown: object) -> None:
    if sigma.ndim != 1 or sigma.size == 0 or not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
        raise ConfigError("theory.sigma", shown, "a non-empty 1-D list of finite numbers > 0")
