"""Every ``torch.load`` in fedsim and kernels refuses pickled code (``weights_only=True``).

A checkpoint, a cached TinyLM base or a user's LM checkpoint is a file from disk; unpickling it
with ``weights_only=False`` would run whatever code it carries."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _torch_load_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
        and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
    ]


def _weights_only_is_true(call: ast.Call) -> bool:
    return any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def test_every_torch_load_passes_weights_only_true():
    calls = [(path, call) for package in ("fedsim", "kernels") for path in sorted((ROOT / package).rglob("*.py"))
             for call in _torch_load_calls(path)]
    # kernels.load_tensors_only, which the checkpoint, the TinyLM cache, HF pickles and packed models use
    assert [path.name for path, _ in calls] == ["_torch_load.py"]
    unsafe = [f"{path.relative_to(ROOT)}:{call.lineno}" for path, call in calls if not _weights_only_is_true(call)]
    assert unsafe == []


def test_the_scan_flags_a_load_without_weights_only(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import torch\nx = torch.load('a')\ny = torch.load('b', weights_only=True)\n")
    flags = [_weights_only_is_true(c) for c in _torch_load_calls(source)]
    assert flags == [False, True]
