"""The harness behind every fenced block of the docs (docs/**/*.md and README.md).

The convention (the docs site's contributor rules):

* ```` ```python ```` and ```` ```bash ```` blocks are executed by the slow suite: each page in a
  fresh temporary directory, its blocks in page order, its python blocks in one shared
  namespace, bash blocks under ``bash -euo pipefail`` with the venv's bin first on PATH and
  ``MPLBACKEND=Agg``.
* The default suite checks every block cheaply: python is compiled and its imports executed;
  each ``fedsim run|optimize|reproduce`` line of a bash block has its overrides composed and
  validated (``-m``: every job of the sweep); yaml, toml and json blocks are parsed.
* ``<!-- docs: ... -->`` on the line right above a fence changes that: ``check-only (REASON)``
  checks but never executes, ``skip (REASON)`` neither, ``exit=N`` expects the (bash) block to
  end with status N. Output blocks (``text``, ``console``) are never executed.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("docs_runner.py")
EXECUTED = ("python", "bash")
# Languages a block may have: executed, parsed, or shown as they are.
LANGUAGES = (*EXECUTED, "yaml", "toml", "json", "text", "console", "csv")
PAGE_TIMEOUT_S = 300  # one page, all its blocks (the whole site's examples budget is ~4 minutes)
TAIL_LINES = 40

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_ANNOTATION = re.compile(r"^\s*<!--\s*docs:(?P<body>.*?)-->\s*$")
_REASONED = re.compile(r"^(?P<kind>check-only|skip)(?:\s*\((?P<reason>.*)\))?$")
_EXIT = re.compile(r"^exit=(?P<status>\d+)$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block: ``line`` is the 1-based line of its opening fence."""

    page: str
    line: int
    lang: str
    source: str
    mode: str = "run"  # run | check-only | skip
    exit: int = 0
    reason: str = ""

    @property
    def executed(self) -> bool:
        return self.lang in EXECUTED and self.mode == "run"

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse_annotation(body: str) -> tuple[str, int, str] | str:
    """``(mode, exit, reason)`` of an annotation's body, or the problem with it."""
    body = body.strip()
    match = _REASONED.match(body)
    if match:
        reason = (match.group("reason") or "").strip()
        if not reason:
            return f"`{match.group('kind')}` needs a reason: <!-- docs: {match.group('kind')} (WHY) -->"
        return match.group("kind"), 0, reason
    match = _EXIT.match(body)
    if match:
        return "run", int(match.group("status")), ""
    return f"unknown annotation {body!r}: one of check-only (REASON), skip (REASON), exit=N"


def parse(text: str, page: str) -> tuple[list[Block], list[str]]:
    """The fenced blocks of a markdown text, and the problems found on the way."""
    lines = text.splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        annotation = _ANNOTATION.match(lines[i])
        if annotation and not (i + 1 < len(lines) and _FENCE.match(lines[i + 1])):
            problems.append(f"{page}:{i + 1}: an annotation must be on the line right above a fence")
        if not match:
            i += 1
            continue
        indent, fence, info = match.group("indent"), match.group("fence"), match.group("info").strip()
        lang = info.split()[0].lstrip("{.").rstrip("}") if info else ""
        start = i
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            close = _FENCE.match(lines[i])
            if close and close.group("fence")[0] == fence[0] and len(close.group("fence")) >= len(fence) and not close.group("info").strip():
                closed = True
                break
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1
        if not closed:
            problems.append(f"{page}:{start + 1}: the fence is never closed")
            break
        mode, status, reason = "run", 0, ""
        above = _ANNOTATION.match(lines[start - 1]) if start > 0 else None
        if above:
            parsed = parse_annotation(above.group("body"))
            if isinstance(parsed, str):
                problems.append(f"{page}:{start}: {parsed}")
            else:
                mode, status, reason = parsed
        if lang not in LANGUAGES:
            problems.append(f"{page}:{start + 1}: a fenced block needs one of the languages {', '.join(LANGUAGES)}, not {lang or 'none'!r}")
        if status and lang != "bash":
            problems.append(f"{page}:{start + 1}: exit={status} applies to bash blocks only")
        blocks.append(Block(page, start + 1, lang, "\n".join(body) + "\n", mode, status, reason))
    return blocks, problems


def pages() -> list[Path]:
    """README.md and every page of the site, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- the cheap checks ------------------------------------------------------------------------------


def _check_python(block: Block, page_text: str) -> list[str]:
    try:
        tree = ast.parse(block.source, filename=block.where)
        compile(tree, block.where, "exec")
    except SyntaxError as error:
        return [f"{block.where}: python does not compile: {error.msg} (block line {error.lineno})"]
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            targets = [(node.module, [alias.name for alias in node.names])]
        else:
            continue
        for module, names in targets:
            top = module.split(".")[0]
            if f"{top}.py" in page_text or f"{top}/" in page_text:  # a module the page writes itself
                continue
            try:
                loaded = importlib.import_module(module)
                for name in names or ():
                    if name != "*" and not hasattr(loaded, name):
                        importlib.import_module(f"{module}.{name}")
            except Exception as error:  # noqa: BLE001 - any failing import is the finding
                problems.append(f"{block.where}: `{ast.unparse(node)}` fails: {type(error).__name__}: {error}")
    return problems


_OPERATORS = set("|&;<>()")


def fedsim_commands(source: str) -> list[tuple[str, list[str], bool]]:
    """Each ``fedsim run|optimize|reproduce`` command of a bash block: (command, overrides,
    is_sweep). ``reproduce NAME`` becomes ``scenario=NAME``; Hydra's own keys are left out."""
    joined = re.sub(r"\\\n", " ", source)
    found = []
    for line in joined.splitlines():
        if "fedsim" not in line or line.lstrip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:
            continue  # bash -n reports the quoting
        segments: list[list[str]] = [[]]
        for token in tokens:
            if set(token) <= _OPERATORS:
                segments.append([])
            else:
                segments[-1].append(token)
        for words in segments:
            while words and re.match(r"^\w+=", words[0]):  # VAR=value before the command
                words = words[1:]
            if words[:3] in (["python", "-m", "fedsim"], ["python3", "-m", "fedsim"]):
                words = ["fedsim", *words[3:]]
            if len(words) < 2 or Path(words[0]).name != "fedsim" or words[1] not in ("run", "optimize", "reproduce"):
                continue
            command, args = words[1], words[2:]
            sweep = "-m" in args or "--multirun" in args
            overrides: list[str] = []
            skip_next = False
            for arg in args:
                if skip_next:
                    skip_next = False
                elif arg in ("--cfg", "-c", "--package", "-p", "--info"):
                    skip_next = arg != "--info"
                elif arg.startswith("-"):
                    continue
                elif "=" not in arg:
                    if command == "reproduce" and not overrides:
                        overrides.append(f"scenario={arg}")
                    elif arg.isdigit():  # 2 of a 2>&1 redirect
                        continue
                elif not re.match(r"^[+~]*hydra[./]", arg):
                    overrides.append(arg)
            found.append((" ".join(words), overrides, sweep))
    return found


_STRUCTURES: dict[tuple[str, ...], object] = {}  # Hydra compositions by their group choices, for every page


def _compose_job(overrides: list[str]) -> None:
    """Validate one job's overrides as ``fedsim.compose`` does, sharing Hydra's compositions
    across every command checked in this process (``_compose_each``'s cache)."""
    from fedsim._compose import _compose_each, check_group_choices

    check_group_choices(overrides)
    _compose_each([overrides], _STRUCTURES)


@cache
def _composes(overrides: tuple[str, ...], sweep: bool) -> str | None:
    """None if ``overrides`` compose into valid configs (every job of a sweep), else the error."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from fedsim._compose import hydra_error_line, sweep_jobs
    from fedsim.errors import ConfigError

    try:
        for job in sweep_jobs(list(overrides)) if sweep else [list(overrides)]:
            _compose_job(job)
    except ConfigError as error:
        return str(error)
    except (HydraException, OmegaConfBaseException) as error:
        return f"overrides Hydra cannot compose ({hydra_error_line(error)})"
    return None


def _writes_module(value: str, page_text: str) -> bool:
    """An override naming MODULE:OBJECT of a module the page writes itself (MODULE.py is on it)."""
    match = re.match(r"^[^=]+=([\w.]+):\w+$", value)
    return bool(match) and f"{match.group(1).split('.')[0]}.py" in page_text


def _check_bash(block: Block, page_text: str) -> list[str]:
    syntax = subprocess.run(["bash", "-n", "-c", block.source], capture_output=True, text=True)
    if syntax.returncode:
        return [f"{block.where}: bash does not parse: {syntax.stderr.strip()}"]
    problems, failed, composed = [], 0, 0
    for command, overrides, sweep in fedsim_commands(block.source):
        if any("$" in o or "`" in o or _writes_module(o, page_text) for o in overrides):
            continue  # a value the shell computes, or a module the page writes: composed when the page runs
        composed += 1
        error = _composes(tuple(overrides), sweep)
        if error is not None:
            failed += 1
            if block.exit == 0:
                problems.append(f"{block.where}: `{command}` is refused: {error}")
    if block.exit == 2 and composed and not failed:  # 2 is bad input: some command must be refused
        problems.append(f"{block.where}: annotated exit=2 (bad input), but every fedsim command in it composes")
    return problems


def _check_data(block: Block) -> list[str]:
    try:
        if block.lang == "yaml":
            list(yaml.safe_load_all(block.source))
        elif block.lang == "toml":
            tomllib.loads(block.source)
        elif block.lang == "json":
            json.loads(block.source)
    except Exception as error:  # noqa: BLE001 - the parser's own message is the finding
        return [f"{block.where}: {block.lang} does not parse: {error}"]
    return []


def check_text(text: str, page: str) -> list[str]:
    """Every problem of one page's blocks (empty: the page passes the cheap checks)."""
    blocks, problems = parse(text, page)
    for block in blocks:
        if block.mode == "skip":
            continue
        if block.lang == "python":
            problems += _check_python(block, text)
        elif block.lang == "bash":
            problems += _check_bash(block, text)
        elif block.lang in ("yaml", "toml", "json"):
            problems += _check_data(block)
    return problems


# --- executing a page ------------------------------------------------------------------------------


def _tail(path: Path) -> str:
    if not path.is_file():
        return "(no output)"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-TAIL_LINES:]) or "(no output)"


def run_text(text: str, page: str, workdir: Path, timeout_s: float = PAGE_TIMEOUT_S) -> str | None:
    """Execute a page's blocks in ``workdir``; None if every block ended as expected, else the
    failure: the page, the block's line, and the tail of its output."""
    blocks, problems = parse(text, page)
    if problems:
        return "\n".join(problems)
    executed = [b for b in blocks if b.executed]
    if not executed:
        return None
    logs = workdir / ".docs-logs"
    logs.mkdir(parents=True, exist_ok=True)
    plan = logs / "plan.json"
    plan.write_text(json.dumps([dataclasses.asdict(b) for b in executed]), encoding="utf-8")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env.pop("PYTHONPATH", None)
    process = subprocess.Popen([sys.executable, str(RUNNER), str(plan), str(logs)], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        driver_output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the runner and everything its blocks started
        process.communicate()
        current = json.loads((logs / "current.json").read_text()) if (logs / "current.json").is_file() else None
        if current is None:
            return f"{page}: timed out after {timeout_s:g} s before its first block"
        block, log = executed[current["index"]], logs / f"block-{current['index']}.log"
        return f"{block.where}: the page timed out after {timeout_s:g} s in this {block.lang} block; its output ends:\n{_tail(log)}"
    result_path = logs / "result.json"
    if not result_path.is_file():
        return f"{page}: the runner failed before reporting:\n{driver_output.decode(errors='replace')[-4000:]}"
    result = json.loads(result_path.read_text())
    if result.get("ok"):
        return None
    block, log = executed[result["index"]], logs / f"block-{result['index']}.log"
    return f"{block.where}: this {block.lang} block ended with status {result['status']}, expected {block.exit}; its output ends:\n{_tail(log)}"
