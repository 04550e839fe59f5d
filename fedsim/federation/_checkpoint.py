"""The run checkpoint: everything a killed run needs to continue from its last completed round.

Written after every round (``checkpoint.pt`` in the run directory, replaced atomically), read by
``fedsim resume``. It holds the global model, the strategy's, policy's and World's state, the
process-wide random generators, the ledger's byte lengths and the resolved configuration it was
written under. An asynchronous run (fedasync, fedbuff) writes one after the initial model and
after every aggregation: ``round`` is the model version, ``world`` the event world's state and
``strategy`` its server's (see ``fedsim.federation._async_server``). Every other random draw comes from a ``(seed, purpose, round)`` stream, so it needs
no saving.

The file is ``torch.save`` of tensors and plain containers only, read back with
``torch.load(weights_only=True)``: numpy arrays travel as tensors under a tag (object arrays,
e.g. drop reasons, as lists), and nothing in it can run code when loaded.
"""

from __future__ import annotations

import io
import random
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import atomic_write_bytes_behind
from ..ledger import DEVICES_FILE, ROUNDS_FILE

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT_VERSION = 1
_ARRAY, _OBJECT_ARRAY, _SCALAR = "__ndarray__", "__ndarray_object__", "__numpy_scalar__"


@dataclass
class Checkpoint:
    round: int  # the last completed round (0: the initial model was evaluated)
    config: dict[str, Any]  # the resolved RunConfig.to_dict() the run was started with
    arrays: dict[str, torch.Tensor]  # the global model after ``round``
    strategy: dict[str, Any]
    policy: dict[str, Any]
    world: dict[str, Any]
    ledger_bytes: dict[str, int]  # rounds.csv and devices.csv lengths after ``round``
    generators: dict[str, Any]  # process-wide random generators (see ``global_generators``)
    wall_time_s: float  # seconds the run has computed so far, over every attempt
    clients: dict[int, Any] = field(default_factory=dict)  # the nodes' context.state arrays (SCAFFOLD's c_i), by partition


def encode(value: Any) -> Any:
    """``value`` with numpy arrays and scalars turned into tagged tensors (weights_only-safe)."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {_OBJECT_ARRAY: [encode(v) for v in value.reshape(-1).tolist()], "shape": list(value.shape)}
        return {_ARRAY: torch.from_numpy(np.array(value, copy=True))}
    if isinstance(value, np.generic):
        return {_SCALAR: torch.from_numpy(np.array(value))}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(encode(v) for v in value)
    return value


def decode(value: Any) -> Any:
    """The inverse of ``encode``."""
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            return value[_ARRAY].numpy().copy()
        if set(value) == {_OBJECT_ARRAY, "shape"}:
            items = np.empty(len(value[_OBJECT_ARRAY]), dtype=object)
            items[:] = [decode(v) for v in value[_OBJECT_ARRAY]]
            return items.reshape(value["shape"])
        if set(value) == {_SCALAR}:
            return value[_SCALAR].numpy()[()]
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(decode(v) for v in value)
    return value


def global_generators() -> dict[str, Any]:
    """The process-wide generators (torch's, numpy's legacy one, Python's). fedsim draws from
    named streams, not from these, but a library that does must not see a resumed run differ."""
    version, internal, gauss = random.getstate()
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(legacy=False), "python": [version, list(internal), gauss]}


def set_global_generators(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(output_dir: Path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint.pt`` atomically: a kill leaves an earlier round's or this one's (inside
    ``fedsim._atomic.write_behind()`` it lands after the ledger rows it counts)."""
    # Serialized now, so later rounds cannot change what it holds; the fields are read, not
    # copied (asdict's deep copy of the World's state was 17 ms a round), since encode rebuilds them.
    saved = {f.name: getattr(checkpoint, f.name) for f in fields(checkpoint) if f.name != "arrays"}
    buffer = io.BytesIO()
    torch.save({"format": FORMAT_VERSION, "arrays": checkpoint.arrays, **encode(saved)}, buffer)
    return atomic_write_bytes_behind(Path(output_dir) / CHECKPOINT_FILE, buffer.getvalue())


# Each field's type as written (a damaged or hand-made file is refused before any of it is used).
_FIELD_TYPES = {"round": int, "config": dict, "arrays": dict, "strategy": dict, "policy": dict, "world": dict,
                "ledger_bytes": dict, "generators": dict, "wall_time_s": (int, float), "clients": dict}


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint; ValueError (one line) if it is not one this fedsim writes."""
    from fedsim_kernels import load_tensors_only

    try:
        saved = load_tensors_only(path)
    except (OSError, ValueError) as error:  # any unreadable file is the same answer
        raise ValueError(f"{path} is not a readable checkpoint ({error.strerror if isinstance(error, OSError) else error})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT_VERSION:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        raise ValueError(f"{path} has checkpoint format {found!r}; this fedsim reads format {FORMAT_VERSION}")
    saved.pop("format")
    required = [f.name for f in fields(Checkpoint) if f.default is MISSING and f.default_factory is MISSING]
    missing, unknown = [n for n in required if n not in saved], sorted(set(saved) - set(_FIELD_TYPES))
    wrong = [n for n, kind in _FIELD_TYPES.items() if n in saved and (not isinstance(saved[n], kind) or isinstance(saved[n], bool))]
    lengths, generators = saved.get("ledger_bytes"), saved.get("generators")
    if isinstance(lengths, dict) and (set(lengths) != {ROUNDS_FILE, DEVICES_FILE} or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in lengths.values())):
        wrong.append("ledger_bytes")
    if isinstance(generators, dict) and set(generators) != set(global_generators()):
        wrong.append("generators")
    if missing or unknown or wrong:
        problems = [f"{what} {', '.join(names)}" for what, names in (("no", missing), ("unknown", unknown), ("damaged", wrong)) if names]
        raise ValueError(f"{path} is not a complete checkpoint ({'; '.join(problems)}): start the run again")
    arrays = saved.pop("arrays")
    return Checkpoint(arrays=arrays, **decode(saved))
