"""The kernels package: public API surface and independence from fedsim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kernels

REPO = Path(__file__).resolve().parents[2]


def test_public_names_resolve():
    for name in kernels.__all__:
        assert getattr(kernels, name) is not None, name
    assert len(set(kernels.__all__)) == len(kernels.__all__)


def test_importing_kernels_does_not_import_fedsim():
    code = "import sys, kernels; bad = [m for m in sys.modules if m.split('.')[0] == 'fedsim']; print(bad); sys.exit(bool(bad))"
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_kernels_sources_never_mention_fedsim_imports():
    for path in (REPO / "kernels").glob("*.py"):
        text = path.read_text()
        assert "import fedsim" not in text and "from fedsim" not in text, path.name
