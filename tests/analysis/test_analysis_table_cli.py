import ast
import subprocess
import sys
from pathlib import Path

from analysis import main, summary_table

ANALYSIS_DIR = Path(__file__).resolve().parents[2] / "analysis"


def test_summary_table_layout():
    rows = [
        {"label": "op.train_bits=4", "final_accuracy": 0.912345678, "total_energy_j": 12345.678,
         "rounds_to_target": None},
        {"label": "op.train_bits=16", "final_accuracy": 0.5, "total_energy_j": float("nan"),
         "rounds_to_target": 12},
    ]
    cols = ["label", "final_accuracy", "total_energy_j", "rounds_to_target", "absent"]
    text = summary_table(rows, cols)
    lines = text.splitlines()
    assert len(lines) == 4
    header, rule, first, second = lines
    assert header.split() == cols
    assert set(rule.replace(" ", "")) == {"-"}
    assert first.split() == ["op.train_bits=4", "0.912346", "12345.7", "-", "-"]
    assert second.split() == ["op.train_bits=16", "0.5", "-", "12", "-"]
    # fixed width: columns line up under the rule's dashes
    starts = [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")]
    widths = [len(seg) for seg in rule.split("  ")]
    for line in lines:
        for start, width in zip(starts, widths):
            cell = line[start:start + width]
            assert cell.strip() != "" or cell == ""
    # numeric columns right-aligned, text left-aligned
    acc_end = starts[1] + widths[1]
    assert first[:acc_end].endswith("0.912346")
    assert second[:acc_end].endswith("0.5")
    assert first.startswith("op.train_bits=4 ")
    assert not text.endswith("\n")


def test_summary_table_empty():
    assert summary_table([], ["a", "bb"]).splitlines() == ["a  bb", "-  --"]
    assert summary_table([{"a": 1}], []) == ""


def test_cli_main(tmp_path, make_sweep, capsys):
    make_sweep(tmp_path / "sw", [{"train_bits": 4}, {"train_bits": 8}])
    assert main([str(tmp_path / "sw"), "--out", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert "op.train_bits" in out and "final_accuracy" in out
    assert "tradeoff.png" in out
    assert (tmp_path / "figs" / "tradeoff.png").is_file()

    assert main([str(tmp_path / "sw" / "0")]) == 0
    assert "total_energy_j" in capsys.readouterr().out

    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "no fedsim run under" in capsys.readouterr().err


# analysis reads files, not simulator internals: no torch, no flwr, and of fedsim only the ledger's
# schema (fedsim.ledger) and the one atomic-write helper (fedsim/__init__ loads its names lazily).
ALLOWED_FEDSIM = {"fedsim", "fedsim._atomic", "fedsim._lazy", "fedsim.ledger"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _forbidden(modules) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in ("torch", "flwr")
                  or (m.split(".")[0] == "fedsim" and m not in ALLOWED_FEDSIM))


def test_no_forbidden_imports_in_source():
    files = sorted(ANALYSIS_DIR.glob("*.py"))
    assert files
    for f in files:
        assert not _forbidden(_imported_modules(f)), f


def test_import_does_not_pull_torch_flwr_or_fedsim():
    code = (
        "import sys, analysis; "
        f"allowed = {sorted(ALLOWED_FEDSIM)!r}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'flwr') "
        "or (m.split('.')[0] == 'fedsim' and m not in allowed)); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ANALYSIS_DIR.parent,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
