"""The house's floors: imports run one way, and the light packages stay light.

Two checks. Statically, every module of a package may import only the fedsim packages below it
(read from the source with ``ast``, so a new import that runs back up fails here, not in review).
Dynamically, importing a light package in a fresh interpreter must not load torch, flwr, pymoo or
scikit-learn.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "flwr", "pymoo", "sklearn")

# Leaves every layer may use.
LEAVES = {"fedsim._checks", "fedsim.errors", "fedsim.rng", "fedsim.workload", "fedsim._lazy", "fedsim._atomic", "fedsim._warn", "fedsim._run_lock", "fedsim._torch_threads", "fedsim._target", "fedsim._gc"}
# fedsim package (or top-level module) -> the fedsim packages it may import besides LEAVES.
ALLOWED = {
    "fedsim.world": set(),
    # Control sits between the world and the federation; the offline optimizer's policy
    # (policy=optimized) lives with the study, in fedsim.controller, above both.
    "fedsim.control": {"fedsim.world", "fedsim.theory"},
    "fedsim.config": {
        "fedsim.world",
        "fedsim.control._config",
        "fedsim.control._handover_config",
        "fedsim.control._operating_point",
        "fedsim.control._registry",
        "fedsim.data._names",
        "fedsim.theory._names",
        "fedsim.qnn._names",
        "fedsim.theory._constants",
        "fedsim.theory._sigma",
        "fedsim.tracking",  # the tracker names and whether their packages are installed (light)
        "fedsim.strategies",  # the strategy vocabulary and each one's keys (light: Flower is imported when built)
    },
    # Experiment trackers, one file each (their libraries imported when a run opens one).
    "fedsim.tracking": set(),
    # The algorithms, one file each: numpy and the checks; Flower's only inside ``build``.
    "fedsim.strategies": set(),
    # What is learned and how a device learns it; no Flower runtime, no physics.
    "fedsim.tasks": {"fedsim.config", "fedsim.data", "fedsim.qnn", "fedsim.ledger", "fedsim.uplink", "fedsim.torch_rng"},
    # The Flower glue: the apps, the wireless seam, the async server, checkpoints, the end of a run.
    "fedsim.federation": {"fedsim.config", "fedsim.control", "fedsim.world", "fedsim.tasks", "fedsim.strategies", "fedsim.ledger", "fedsim.tracking",
                          "fedsim.uplink", "fedsim.result",
                          "fedsim._compose"},  # under `flwr run` the ServerApp composes its Hydra config (config-level code)
    "fedsim.engine": {"fedsim.federation", "fedsim.tasks", "fedsim.control", "fedsim.world", "fedsim.config", "fedsim.ledger",
                      "fedsim.result"},
    "fedsim.qnn": set(),
    "fedsim.uplink": set(),
    "fedsim.data": set(),
    "fedsim.theory": {"fedsim.world"},
    "fedsim.optimize": {"fedsim.theory"},
    "fedsim.ledger": set(),
    # Learned agents (torch) and Gymnasium environments sit on the control plane they learn.
    "fedsim.rl": {"fedsim.world", "fedsim.control", "fedsim.torch_rng"},
    "fedsim.envs": {"fedsim.world", "fedsim.control"},
}
# Third-party packages a layer must never import, even lazily inside a function.
FORBIDDEN_THIRD_PARTY = {
    "fedsim.world": {"torch", "flwr", "pymoo", "sklearn", "fedsim_kernels"},
    "fedsim.control": {"torch", "flwr", "sklearn", "fedsim_kernels"},
    "fedsim.config": {"torch", "flwr", "pymoo", "sklearn"},
    "fedsim.theory": {"torch", "flwr", "sklearn", "fedsim_kernels"},
    "fedsim.ledger": {"torch", "flwr", "pymoo", "sklearn", "fedsim_kernels"},
    "fedsim.envs": {"torch", "flwr", "pymoo", "sklearn", "fedsim_kernels"},
    "fedsim.tasks": {"pymoo", "sklearn"},
    "fedsim.federation": {"pymoo", "sklearn"},
}


def _modules(package: str) -> list[Path]:
    path = ROOT / package.replace(".", "/")
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def _imports(file: Path) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    rel = file.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _fedsim_targets(imports: set[str]) -> set[str]:
    return {name for name in imports if name == "fedsim" or name.startswith("fedsim.")}


def _allowed(target: str, own: str, allowed: set[str]) -> bool:
    def within(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    if within(target, own) or any(within(target, leaf) for leaf in LEAVES):
        return True
    # "from fedsim.world import X" is recorded as fedsim.world and fedsim.world.X.
    return any(within(target, a) for a in allowed) or any(within(a, target) for a in allowed)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_layer_imports_only_what_lies_below_it(package):
    wrong = {}
    for file in _modules(package):
        targets = _fedsim_targets(_imports(file))
        bad = sorted(t for t in targets if t != "fedsim" and not _allowed(t, package, ALLOWED[package]))
        if "fedsim" in targets:
            bad.append("fedsim (the top-level package pulls the run entry point)")
        if bad:
            wrong[str(file.relative_to(ROOT))] = bad
    assert not wrong, f"imports that run back up: {wrong}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN_THIRD_PARTY))
def test_a_layer_never_imports_the_heavy_libraries(package):
    wrong = {}
    for file in _modules(package):
        tops = {name.split(".")[0] for name in _imports(file)}
        bad = sorted(tops & FORBIDDEN_THIRD_PARTY[package])
        if bad:
            wrong[str(file.relative_to(ROOT))] = bad
    assert not wrong, wrong


def test_kernels_never_imports_fedsim():
    wrong = {
        str(f.relative_to(ROOT)): sorted(_fedsim_targets(_imports(f)))
        for f in _modules("kernels")
        if _fedsim_targets(_imports(f))
    }
    assert not wrong, wrong


def test_qnn_does_not_import_the_world():
    for file in _modules("fedsim.qnn"):
        assert not any(t.startswith("fedsim.world") for t in _imports(file)), file


@pytest.mark.parametrize(
    "statement",
    [
        "import fedsim",
        "import fedsim.world",
        "import fedsim.config",
        "import fedsim.control",
        "import fedsim.ledger",
        "import fedsim.theory; fedsim.theory.QflModel",
        "from fedsim.config import RunConfig; RunConfig.from_mapping({})",
        "from fedsim.config import RunConfig; RunConfig.from_mapping({'strategy': {'name': 'krum'}})",
        "import fedsim.strategies; [fedsim.strategies.strategy_module(n) for n in fedsim.strategies.STRATEGY_NAMES]",
        "import fedsim.control; fedsim.control.build_policy",
    ],
)
def test_light_imports_load_no_heavy_library(statement):
    code = f"import sys; {statement}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"{statement!r} loaded {out.stdout.strip()}"


def _module_name(file: Path) -> str:
    parts = list(file.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("package", ["fedsim.federation", "fedsim.tasks", "fedsim.strategies", "fedsim.engine"])
def test_no_import_cycle_inside_a_package(package):
    files = {_module_name(f): f for f in _modules(package)}
    graph = {name: {t for t in _fedsim_targets(_imports(f)) if t in files and t != name} for name, f in files.items()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise AssertionError(f"import cycle: {' -> '.join(path[path.index(name):] + (name,))}")
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, path + (name,))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())
