"""The run directory's ``config.yaml``: the resolved, validated configuration of the run."""

from __future__ import annotations

from pathlib import Path

import yaml

from .._atomic import atomic_write_text
from ..config import RunConfig
from ..ledger import CONFIG_FILE


def write_config(config: RunConfig, output_dir: Path) -> Path:
    """``output_dir/config.yaml`` (atomically)."""
    return atomic_write_text(Path(output_dir) / CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False))
