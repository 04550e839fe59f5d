"""kernels._atomic: checkpoints get the umask's permissions and a failed write leaves nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from fedsim_kernels import TinyLM, TinyLMConfig
from fedsim_kernels._atomic import atomic_write
from fedsim_kernels.pipeline import save_compressed


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_honours_the_umask(tmp_path: Path, umask_022) -> None:
    target = atomic_write(tmp_path / "state.pt", lambda f: torch.save({"w": torch.ones(2)}, f))
    assert target == tmp_path / "state.pt"
    assert _mode(target) == 0o644
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.ones(2))
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("existing", [None, b"old"])
def test_a_failed_write_leaves_neither_target_nor_temp_file(tmp_path: Path, existing: bytes | None) -> None:
    target = tmp_path / "state.pt"
    if existing is not None:
        target.write_bytes(existing)

    def write(f):
        f.write(b"half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_write(target, write)
    if existing is None:
        assert list(tmp_path.iterdir()) == []
    else:
        assert list(tmp_path.iterdir()) == [target] and target.read_bytes() == existing


def test_checkpoints_get_normal_permissions(tmp_path: Path, umask_022) -> None:
    model = TinyLM(TinyLMConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, context=16))
    saved = model.save_pretrained(tmp_path / "tinylm")
    files = sorted(saved.iterdir())
    assert files and not [p for p in files if p.name.startswith(".")]
    assert {_mode(p) for p in files} == {0o644}
    assert _mode(save_compressed(model, tmp_path / "compressed")) == 0o644
