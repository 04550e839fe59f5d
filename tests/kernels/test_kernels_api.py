"""The kernels package: public API surface and independence from fedsim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import fedsim_kernels as kernels

REPO = Path(__file__).resolve().parents[2]


def test_public_names_resolve():
    for name in kernels.__all__:
        assert getattr(kernels, name) is not None, name
    assert len(set(kernels.__all__)) == len(kernels.__all__)


def test_importing_kernels_does_not_import_fedsim():
    code = "import sys, fedsim_kernels; bad = [m for m in sys.modules if m.split('.')[0] == 'fedsim']; print(bad); sys.exit(bool(bad))"
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_kernels_sources_never_mention_fedsim_imports():
    for path in (REPO / "kernels").glob("*.py"):
        text = path.read_text()
        assert not re.search(r"\b(import|from) fedsim\b(?!_)", text), path.name


def test_the_folder_never_shadows_the_hubs_kernels_package():
    """Run from the checkout's root (on sys.path), ``import kernels`` is not fedsim's folder: the
    name is the Hub's package, which transformers >= 5.25 imports; fedsim's is fedsim_kernels."""
    code = (
        "import importlib.util, sys, fedsim_kernels\n"
        "hub = importlib.util.find_spec('kernels', None)\n"
        "try:\n"
        "    import kernels\n"
        "except ModuleNotFoundError as e:\n"
        "    print('absent', e); sys.exit(0 if 'fedsim_kernels' in str(e) else 3)\n"
        "assert kernels is not fedsim_kernels and not hasattr(kernels, 'compress_model'), kernels.__file__\n"
        "print('hub', kernels.__file__)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert str(REPO / "kernels") not in res.stdout
