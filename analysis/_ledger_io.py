"""Reading fedsim run outputs (``rounds.csv``, ``summary.json``, ``config.yaml``).

Everything here works from files only: no torch, no flwr, and of ``fedsim``
only the ledger's schema (file and column names, ``fedsim.ledger``).  A *run directory* is any directory that holds both
``summary.json`` and ``rounds.csv``; a *sweep directory* is any directory with
run directories somewhere below it (Hydra multirun job folders ``0/``, ``1/``,
... possibly nested one level deeper by date).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np
import yaml


from fedsim.ledger import CONFIG_FILE, ROUND_COLUMNS, ROUNDS_FILE, SUMMARY_FILE  # the ledger's own file names
# Hydra's own copy of the composed config, used when config.yaml is absent.
_HYDRA_CONFIG_FILE = Path(".hydra") / "config.yaml"

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class RunData:
    """One fedsim run as read back from its directory.

    ``rounds`` maps each ``rounds.csv`` column to a 1-D array: float arrays for
    numeric columns (empty cells -> nan), string arrays for columns that hold
    any non-numeric text.  ``summary`` is ``summary.json`` as a dict and
    ``config`` the resolved config as a plain dict (``{}`` when absent).
    """

    path: Path
    rounds: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Number of rows in ``rounds.csv``."""
        for arr in self.rounds.values():
            return int(arr.shape[0])
        return 0

    def column(self, name: str) -> np.ndarray | None:
        """Return a rounds column as a float array, or ``None`` if absent/non-numeric."""
        arr = self.rounds.get(name)
        if arr is None or arr.dtype.kind not in "fiub":
            return None
        return arr.astype(float, copy=False)

    @property
    def round_index(self) -> np.ndarray:
        """The ``round`` column (falls back to 0..n-1)."""
        col = self.column("round")
        return col if col is not None else np.arange(self.n_rows, dtype=float)

    @property
    def accuracy(self) -> np.ndarray:
        """The ``test_accuracy`` column (all-nan if absent)."""
        col = self.column("test_accuracy")
        return col if col is not None else np.full(self.n_rows, np.nan)

    @property
    def energy_cum(self) -> np.ndarray:
        """Cumulative energy in J: ``energy_cum_j``, else cumsum of ``energy_round_j``."""
        col = self.column("energy_cum_j")
        if col is not None:
            return col
        per_round = self.column("energy_round_j")
        if per_round is None:
            parts = [self.column(c) for c in ("energy_compute_j", "energy_uplink_j")]
            parts = [p for p in parts if p is not None]
            if not parts:
                return np.full(self.n_rows, np.nan)
            per_round = np.sum([np.nan_to_num(p) for p in parts], axis=0)
        return np.cumsum(np.nan_to_num(per_round))


# --------------------------------------------------------------------------- #
# reading
# --------------------------------------------------------------------------- #


def is_run_dir(path: PathLike) -> bool:
    """True when ``path`` holds both ``summary.json`` and ``rounds.csv``."""
    p = Path(path)
    try:
        return (p / SUMMARY_FILE).is_file() and (p / ROUNDS_FILE).is_file()
    except OSError as error:  # a directory this user may not search (chmod 000)
        raise _unreadable(p, error) from None


def _parse_column(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=float)
    for i, raw in enumerate(values):
        s = raw.strip()
        if s == "":
            out[i] = np.nan
            continue
        try:
            out[i] = float(s)
        except ValueError:
            return np.array([v.strip() for v in values], dtype=str)
    return out


class LedgerError(ValueError):
    """A ledger file that is not what fedsim writes (empty, truncated, binary, not JSON), or one
    this user cannot read: one line naming the file and what is wrong, so ``fedsim plot`` can
    refuse it before drawing."""


def _unreadable(path: Path, error: OSError) -> LedgerError:
    return LedgerError(f"{path} cannot be read: {error.strerror or error}")


def read_rounds_csv(path: PathLike) -> dict[str, np.ndarray]:
    """Parse a ``rounds.csv`` file into ``{column: array}``; refuse a malformed one.

    fedsim writes the whole file atomically, so an empty file, a header with no rows, a row with
    a different number of fields (cut off mid-row) or bytes that are not UTF-8 text mean the file
    was damaged or is not a ledger: :class:`LedgerError`, never a plot of half a run.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise LedgerError(f"{path} is not a fedsim ledger: not UTF-8 text") from None
    except OSError as error:
        raise _unreadable(path, error) from None
    if "\x00" in text:
        raise LedgerError(f"{path} is not a fedsim ledger: binary content")
    rows = [row for row in csv.reader(text.splitlines()) if row and any(c.strip() for c in row)]
    if not rows:
        raise LedgerError(f"{path} is empty: a fedsim ledger has a header and one row per round")
    header = [h.strip() for h in rows[0]]
    if "round" not in header:
        raise LedgerError(f"{path} is not a fedsim ledger: no 'round' column in its header")
    if len(rows) == 1:
        raise LedgerError(f"{path} has a header but no rounds")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise LedgerError(f"{path} line {number} has {len(row)} fields, the header {len(header)}: the file is truncated or damaged")
    cols = list(zip(*rows[1:]))
    parsed = {name: _parse_column(list(vals)) for name, vals in zip(header, cols) if name}
    for name in ROUND_COLUMNS:  # the schema's columns are numbers: text there is damage, not data
        values = parsed.get(name)
        if values is not None and values.dtype.kind not in "fiub":
            line, cell = next((i, str(v)) for i, v in enumerate(values, start=2) if v and not _is_number(v))
            raise LedgerError(f"{path} line {line}: {name}={cell!r} is not a number: the file is damaged or not a fedsim ledger")
    return parsed


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_summary(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LedgerError(f"{path} is not valid JSON ({str(error).splitlines()[0]}): the file is truncated or damaged") from None
    except OSError as error:
        raise _unreadable(path, error) from None
    if not isinstance(data, dict):
        raise LedgerError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_config(run_dir: Path) -> dict:
    for candidate in (run_dir / CONFIG_FILE, run_dir / _HYDRA_CONFIG_FILE):
        if candidate.is_file():
            try:
                data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
            except OSError as error:
                raise _unreadable(candidate, error) from None
            except (UnicodeDecodeError, yaml.YAMLError) as error:
                raise LedgerError(f"{candidate} is not the YAML fedsim writes ({type(error).__name__}): the file is damaged") from None
            if data is None:
                return {}
            if not isinstance(data, dict):
                raise LedgerError(f"{candidate}: expected a YAML mapping, got {type(data).__name__}")
            return data
    return {}


def load_run(path: PathLike) -> RunData:
    """Load one run directory.

    Raises ``FileNotFoundError`` naming the missing file when ``path`` is not a
    run directory (``rounds.csv`` and ``summary.json`` are both required;
    ``config.yaml`` is optional and falls back to ``.hydra/config.yaml``).
    """
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"not a fedsim run directory: {run_dir} does not exist")
    is_run_dir(run_dir)  # a folder this user cannot search: LedgerError, not a missing file
    for name in (ROUNDS_FILE, SUMMARY_FILE):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(
                f"not a fedsim run directory: missing {name} in {run_dir}"
            )
    return RunData(
        path=run_dir,
        rounds=read_rounds_csv(run_dir / ROUNDS_FILE),
        summary=_read_summary(run_dir / SUMMARY_FILE),
        config=_read_config(run_dir),
    )


def _natural_key(rel: Path) -> tuple:
    key = []
    for part in rel.parts:
        chunks = re.split(r"(\d+)", part)
        key.append(tuple((0, int(c), c) if c.isdigit() else (1, 0, c) for c in chunks if c != ""))
    return tuple(key)


def find_runs(path: PathLike) -> list[Path]:
    """All run directories at or below ``path``, in natural sort order.

    Job folders sort numerically (``2/`` before ``10/``).  Symlinked
    directories are not followed.  A missing ``path`` gives ``[]``.
    """
    root = Path(path)
    if not root.is_dir():
        return []
    found: list[Path] = []

    def refuse(error: OSError) -> None:  # an unreadable folder would silently drop its runs
        raise _unreadable(Path(error.filename or root), error)

    for dirpath, dirnames, filenames in os.walk(root, onerror=refuse):
        names = set(filenames)
        if SUMMARY_FILE in names and ROUNDS_FILE in names:
            found.append(Path(dirpath))
        dirnames.sort()
    return sorted(found, key=lambda p: _natural_key(p.relative_to(root)))


# --------------------------------------------------------------------------- #
# labelling
# --------------------------------------------------------------------------- #

_MISSING = object()

# whole config groups that never describe the experiment itself
_IGNORED_GROUPS = {"hydra", "paths"}
# leaf names that are locations, not knobs
_IGNORED_LEAVES = {
    "dir", "path", "paths", "root", "cwd", "outdir", "logdir", "output_dir",
    "out_dir", "run_dir", "log_dir", "save_dir", "data_dir", "cache_dir",
    "filename", "file",
}
_IGNORED_SUFFIXES = ("_dir", "_path", "_paths", "_root", "_file")
_PATHLIKE_VALUE = re.compile(r"^(/|~|\.{1,2}[/\\]|[A-Za-z]:[/\\])")


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys (lists stay as values)."""
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _ignored_key(key: str) -> bool:
    parts = key.split(".")
    if any(p in _IGNORED_GROUPS for p in parts):
        return True
    leaf = parts[-1].lower()
    return leaf in _IGNORED_LEAVES or leaf.endswith(_IGNORED_SUFFIXES)


def _looks_like_path(value: Any) -> bool:
    return isinstance(value, str) and bool(_PATHLIKE_VALUE.match(value))


def _canonical(value: Any) -> str:
    if value is _MISSING:
        return "\x00missing"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return json.dumps(value, sort_keys=True, default=str)


def _as_run(run: Union[RunData, PathLike]) -> RunData:
    return run if isinstance(run, RunData) else load_run(run)


def _flat_params(run: RunData) -> dict[str, Any]:
    """The dotted-key parameters a run is described by.

    The resolved config when present; otherwise the op point and seed that
    ``summary.json`` records.
    """
    if run.config:
        return flatten_config(run.config)
    params: dict[str, Any] = {}
    op = run.summary.get("op")
    if isinstance(op, Mapping):
        params.update(flatten_config(op, "op."))
    if "seed" in run.summary:
        params["seed"] = run.summary["seed"]
    return params


def varying_keys(runs: Sequence[Union[RunData, PathLike]]) -> list[str]:
    """Dotted config keys whose value differs between ``runs``.

    Keys under ``hydra``/``paths`` and keys that name directories or files
    (``*_dir``, ``*_path``, ``output_dir``, ...) or hold path-like strings are
    ignored.  Order follows first appearance in the configs.
    """
    flats = [_flat_params(_as_run(r)) for r in runs]
    if len(flats) < 2:
        return []
    order: dict[str, None] = {}
    for flat in flats:
        for key in flat:
            order.setdefault(key, None)
    keys = []
    for key in order:
        if _ignored_key(key):
            continue
        values = [flat.get(key, _MISSING) for flat in flats]
        if any(_looks_like_path(v) for v in values):
            continue
        if len({_canonical(v) for v in values}) > 1:
            keys.append(key)
    return keys


def format_value(value: Any) -> str:
    """Compact, Hydra-override-like rendering of a config value."""
    if value is _MISSING:
        return "-"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


def run_params(run: RunData, keys: Iterable[str]) -> dict[str, str]:
    """``{key: formatted value}`` for the given dotted keys of one run."""
    flat = _flat_params(run)
    return {k: format_value(flat.get(k, _MISSING)) for k in keys}


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Map each dotted key to its shortest suffix that is still unique among ``keys``.

    ``["op.train_bits", "op.uplink_bits"] -> {"op.train_bits": "train_bits", ...}``;
    ``["model.lr", "optim.lr"]`` stay as they are.
    """
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            clashes = [k for k in keys if k != key and (k == suffix or k.endswith("." + suffix))]
            if not clashes:
                out[key] = suffix
                break
        else:
            out[key] = key
    return out


def sweep_label(runs: Sequence[Union[RunData, PathLike]], short: bool = False) -> list[str]:
    """One label per run built from the keys that vary across ``runs``.

    E.g. ``["op.train_bits=4", "op.train_bits=8"]``.  With nothing varying
    (or a single run) the run directory name is used; duplicate labels get the
    directory name appended so every label is unique.  ``short=True`` drops
    the key prefixes that are not needed to tell keys apart
    (``"train_bits=4"``), for annotations where space is tight.
    """
    loaded = [_as_run(r) for r in runs]
    keys = varying_keys(loaded)
    names = short_keys(keys) if short else {k: k for k in keys}
    labels = []
    for run in loaded:
        if keys:
            params = run_params(run, keys)
            labels.append(", ".join(f"{names[k]}={v}" for k, v in params.items()))
        else:
            labels.append(run.path.name or str(run.path))
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    return [
        f"{lab} [{run.path.name}]" if counts[lab] > 1 else lab
        for lab, run in zip(labels, loaded)
    ]


# --------------------------------------------------------------------------- #
# headline metrics
# --------------------------------------------------------------------------- #


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_metrics(run: RunData) -> dict[str, Any]:
    """Headline numbers of a run, from ``summary.json`` with rounds.csv fallbacks.

    Keys: final_accuracy, total_energy_j, rounds, sim_time_s, target_accuracy,
    rounds_to_target, energy_to_target_j, seed (``None`` where unknown).
    """
    s = run.summary
    acc = run.accuracy
    energy = run.energy_cum
    finite_acc = acc[np.isfinite(acc)]
    finite_energy = energy[np.isfinite(energy)]
    sim_time = run.column("sim_time_s")

    def pick(key: str, fallback: Any) -> Any:
        value = s.get(key)
        return fallback if value is None else value

    return {
        "final_accuracy": pick("final_accuracy", float(finite_acc[-1]) if finite_acc.size else None),
        "total_energy_j": pick("total_energy_j", float(finite_energy[-1]) if finite_energy.size else None),
        "rounds": pick("rounds", int(np.nanmax(run.round_index)) if run.n_rows else None),
        "sim_time_s": pick(
            "sim_time_s",
            float(sim_time[np.isfinite(sim_time)][-1])
            if sim_time is not None and np.isfinite(sim_time).any()
            else None,
        ),
        "target_accuracy": _finite_or_none(s.get("target_accuracy")),
        "rounds_to_target": s.get("rounds_to_target"),
        "energy_to_target_j": s.get("energy_to_target_j"),
        "seed": s.get("seed", run.config.get("seed") if run.config else None),
    }
