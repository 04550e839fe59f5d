"""Generate the reference pages that must never drift from the code.

    python docs/gen_reference.py           # rewrite docs/reference/{configuration,ledger-schema,cli}.md
    python docs/gen_reference.py --check   # exit 1 naming each page that differs (what the test runs)

Everything on these pages is read from the code, nothing is retyped:

* configuration.md: ``RunConfig`` and its nested sections (``dataclasses.fields``: key, type,
  default), the unit from the key's suffix, the allowed values as the validator itself states
  them, and the description from the field's source comment (``ast`` + ``tokenize`` on the
  class's file; a field without a comment has none). The allowed values come from *probing*:
  each section is built with that one field set to a value no validator accepts, and the
  ``ConfigError`` it raises carries the validator's own "what is allowed" text, exactly what a
  user with a bad value reads. Then the Hydra groups (``conf/<group>/*.yaml`` plus the policy and
  strategy registries) and the scenarios (``scenarios/*.yaml``), each with its header comment.
* ledger-schema.md: ``fedsim.ledger``'s ``RoundRow`` / ``DeviceRow`` (columns, types; the
  descriptions from their docstrings' ``Attributes`` sections), the columns tasks and engines add
  (every ``Column(...)`` in ``fedsim/``), ``summary.json``'s keys (``Ledger.summary`` called on a
  one-round ledger, plus the keys each runner passes to ``finish_run``) and the drop reasons.
* cli.md: ``fedsim``'s own help texts, printed by ``fedsim.cli.main``.

The script lives under docs/ (mkdocs excludes ``*.py`` there) rather than in the package: it is a
maintainer's tool that reads the source tree (comments, conf/, scenarios/), not something an
installed fedsim needs.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import importlib
import importlib.util
import inspect
import io
import math
import re
import sys
import tokenize
import types
import typing
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
COMMAND = "python docs/gen_reference.py"

# Units from a key's suffix (longest first): names carry their units (the project's rule).
UNIT_SUFFIXES = (
    ("_dbm_hz", "dBm/Hz"),
    ("_w_hz", "W/Hz"),
    ("_per_s", "1/s"),
    ("_mps", "m/s"),
    ("_dbm", "dBm"),
    ("_dbi", "dBi"),
    ("_deg", "degrees"),
    ("_db", "dB"),
    ("_hz", "Hz"),
    ("_pj", "pJ"),
    ("_ms", "ms"),
    ("_s", "s"),
    ("_w", "W"),
    ("_j", "J"),
    ("_m", "m"),
    ("_bits", "bits"),
    ("_bytes", "bytes"),
    ("_rounds", "rounds"),
    ("_wavelengths", "wavelengths"),
)


def unit_of(name: str) -> str:
    """The unit a key's name carries (``tx_power_w`` -> W), or "" for a dimensionless one."""
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix) or name == suffix[1:]:
            if suffix == "_per_s":  # macs_per_s -> macs/s
                return name[: -len(suffix)].rsplit("_", 1)[-1] + "/s"
            return unit
    return ""


# --- reading the source: comments, docstrings ------------------------------------------------------


@cache
def _source(path: Path) -> tuple[ast.Module, list[str], dict[int, str]]:
    """A file's AST, its lines and its comments by line number."""
    text = path.read_text(encoding="utf-8")
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    return ast.parse(text), text.splitlines(), comments


def _class_node(cls: type) -> tuple[ast.ClassDef, list[str], dict[int, str]] | None:
    try:
        path = Path(inspect.getsourcefile(cls))
    except (TypeError, OSError):
        return None
    tree, lines, comments = _source(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return node, lines, comments
    return None


def field_comments(cls: type) -> dict[str, str]:
    """Each field's source comment: the comment lines right above it, then the one after it."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's comment wins over its base's
        found = _class_node(klass)
        if found is None:
            continue
        node, lines, comments = found
        for item in node.body:
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                continue
            above = []
            line = item.lineno - 1
            while line >= 1 and lines[line - 1].strip().startswith("#"):
                above.insert(0, comments[line])
                line -= 1
            after = comments.get(item.end_lineno) if not lines[item.end_lineno - 1].strip().startswith("#") else None
            text = " ".join([*above, *([after] if after else [])])
            if text:
                out[item.target.id] = text
    return out


def first_paragraph(doc: str | None) -> str:
    """A docstring's first paragraph on one line."""
    if not doc:
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


def docstring_attributes(cls: type) -> dict[str, str]:
    """The ``Attributes:`` section of a Google-style class docstring: name -> description."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    out: dict[str, str] = {}
    inside, name = False, None
    for line in doc.splitlines():
        if line.strip() == "Attributes:":
            inside = True
            continue
        if not inside:
            continue
        if line and not line.startswith(" "):  # the next section
            break
        match = re.match(r"^    (\w+)(?: \([^)]*\))?: (.*)$", line)
        if match:
            name = match.group(1)
            out[name] = match.group(2).strip()
        elif name and line.startswith("        "):
            out[name] += " " + line.strip()
    return out


def docstring_bullets(doc: str | None) -> dict[str, str]:
    """A docstring's list of ``- ``name``: description`` items: name -> description."""
    out: dict[str, str] = {}
    name = None
    for line in inspect.cleandoc(doc or "").splitlines():
        match = re.match(r"^- ``(\w+)``: (.*)$", line)
        if match:
            name = match.group(1)
            out[name] = match.group(2).strip()
        elif name and line.startswith("  ") and line.strip():
            out[name] += " " + line.strip()
        else:
            name = None
    return out


def class_docstring_of(module: str, name: str) -> str:
    """A class's docstring read from its module's source, without importing the module."""
    spec = importlib.util.find_spec(module)
    tree, _, _ = _source(Path(spec.origin))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return first_paragraph(ast.get_docstring(node))
    return ""


# --- formatting ------------------------------------------------------------------------------------


def type_name(hint: object) -> str:
    if hint is type(None):
        return "null"
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return str(hint).replace("typing.", "")


def value_text(value: object) -> str:
    """A default as it is written in YAML or on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        if len(text) > 8 and math.isfinite(value):
            text = re.sub(r"e([+-])0*(\d)", lambda m: "e" + m.group(1).replace("+", "") + m.group(2), f"{value:.6g}")
        return text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}" if value else "{}"
    return str(value)


def cell(text: str) -> str:
    """Table-cell text: pipes escaped, one line."""
    return " ".join(str(text).split()).replace("|", "\\|")


def code(text: str) -> str:
    return f"`{text}`" if text else ""


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def banner(title: str, what: str) -> list[str]:
    # Wide tables: the page gives the site's left navigation's width to them (its own sections
    # stay in the right-hand table of contents).
    return [
        "---",
        "hide:",
        "  - navigation",
        "---",
        "",
        f"# {title}",
        "",
        f"<!-- GENERATED by `{COMMAND}` from {what}: do not edit by hand. -->",
        "",
        "!!! note \"Generated page\"",
        f"    This page is generated from {what} by `{COMMAND}`; a test fails when it no longer",
        "    matches the code. Edit the code (or its comments), then run that command.",
        "",
    ]


# --- configuration ---------------------------------------------------------------------------------


class _NotAValue:
    """A value no validator accepts: not a number, string, bool, list or mapping."""

    def __repr__(self) -> str:
        return "<probe>"


def allowed_text(build: Callable[[str, object], object], key: str) -> str:
    """What the validator of ``key`` allows, in its own words: build the section with that key
    set to a value nothing accepts and read the ConfigError's ``allowed``."""
    from fedsim.errors import ConfigError

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build(key, _NotAValue())
    except ConfigError as error:
        if error.key.rsplit(".", 1)[-1] == key:
            return error.allowed
    except Exception:  # noqa: BLE001 - a validator that cannot even look at the probe states nothing
        pass
    return ""


def _section_fields(cls: type, prefix: str) -> Iterator[tuple[str, type, dataclasses.Field]]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name.startswith("_"):
            continue
        yield f"{prefix}{f.name}", hints[f.name], f


def _default(f: dataclasses.Field) -> object:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _section_rows(cls: type, prefix: str, default: object) -> tuple[list[list[str]], list[tuple[str, type, object]]]:
    """The rows of one section's scalar keys, and its nested sections (key, type, default)."""
    from fedsim.config._schema import section_type

    comments = field_comments(cls)
    rows, nested = [], []
    for dotted, hint, f in _section_fields(cls, prefix):
        inner = section_type(hint)
        value = getattr(default, f.name)
        if _default(f) is None:  # normalized after construction (theory.beta: None means 2/mu)
            value = None
        if inner is not None:
            nested.append((dotted, inner, value))
            continue

        def build(key: str, probe: object, cls=cls, default=default) -> object:
            values = {g.name: getattr(default, g.name) for g in dataclasses.fields(cls) if g.init}
            return cls(**{**values, key: probe})

        free_form = typing.get_origin(hint) is dict or hint is dict or "dict[" in type_name(hint)
        allowed = "any mapping (free-form)" if free_form else allowed_text(build, f.name)
        rows.append([code(dotted), type_name(hint), code(value_text(value)), unit_of(f.name), allowed, comments.get(f.name, "")])
    return rows, nested


def _section_block(key: str, cls: type, default: object, out: list[str], level: int = 2) -> None:
    rows, nested = _section_rows(cls, f"{key}." if key else "", default)
    title = f"`{key}`" if key else "Top-level keys"
    out += [f"{'#' * level} {title}", ""]
    doc = first_paragraph(cls.__doc__) if key and cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "(") else ""
    if doc:
        out += [doc, ""]
    if rows:
        out += table(["key", "type", "default", "unit", "allowed", "description"], rows) + [""]
    for dotted, inner, value in nested:
        if dotted == "strategy":
            _strategy_block(out)
        else:
            _section_block(dotted, inner, value, out, level=min(level + 1, 3) if key else 2)


def _strategy_block(out: list[str]) -> None:
    from fedsim.strategies import STRATEGY_NAMES, strategy_module

    out += [
        "## `strategy`",
        "",
        "The algorithm (`strategy=NAME`) and its own keys, `strategy.KEY=VALUE`. A key that only "
        "another strategy takes is named in a one-line warning; one that no strategy takes is an error.",
        "",
    ]
    for name in STRATEGY_NAMES:
        module = strategy_module(name)
        params = module.Params
        default = params()
        comments = field_comments(params)
        mode = "asynchronous (event-driven world)" if module.ASYNCHRONOUS else "synchronous rounds"
        out += [f"### `strategy={name}`", "", f"{first_paragraph(module.__doc__)} ({mode}.)", ""]
        rows = []
        for dotted, hint, f in _section_fields(params, "strategy."):

            def build(key: str, probe: object, params=params) -> object:
                return params(**{key: probe})

            rows.append([code(dotted), type_name(hint), code(value_text(getattr(default, f.name))), unit_of(f.name),
                         allowed_text(build, f.name), comments.get(f.name, "")])
        out += (table(["key", "type", "default", "unit", "allowed", "description"], rows) if rows else ["No keys of its own."]) + [""]


def user_facing(text: str) -> str:
    """Header text without pointers to material a user's clone does not have (the project's
    private reference notes): such parentheticals and sentences are left out."""
    text = re.sub(r"\s*\([^()]*shared/[^()]*\)", "", text)
    text = re.sub(r"\s*\(\w+\.md\)", "", text)
    text = re.sub(r",\s*\w+\.md\)", ")", text)
    text = re.sub(r" of \w+\.md\b", "", text)
    sentences = re.split(r"(?<=[.;])\s+(?=[A-Z(])", text)
    return " ".join(s for s in sentences if "shared/" not in s and "reference/" not in s).strip()


def module_doc(module: str) -> str:
    """A module's docstring's first paragraph, read from its source without importing it."""
    spec = importlib.util.find_spec(module)
    tree, _, _ = _source(Path(spec.origin))
    return first_paragraph(ast.get_docstring(tree))


def _yaml_header(path: Path) -> str:
    """The first paragraph of a YAML file's header comment (up to a blank comment line)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if not text:
            if lines:
                break
            continue
        lines.append(text)
    return user_facing(" ".join(lines))


def _same(a: object, b: object) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b and type(a) is not bool or a is b


def _option_keys(group_dir: Path, name: str) -> dict[str, object]:
    """The keys option ``name`` sets, its own ``defaults`` (options of the same group) first."""
    from omegaconf import OmegaConf  # YAML as Hydra reads it (1.0e10 is a float, not a string)

    from analysis import flatten_config

    node = OmegaConf.to_container(OmegaConf.load(group_dir / f"{name}.yaml")) or {}
    keys: dict[str, object] = {}
    for base in node.get("defaults", []):
        if isinstance(base, str) and base != "_self_":
            keys.update(_option_keys(group_dir, base))
    keys.update(flatten_config({k: v for k, v in node.items() if k != "defaults"}))
    return keys


def _groups_block(out: list[str]) -> None:
    from analysis import flatten_config
    from fedsim._compose import conf_dir, default_group_options, scenarios_dir
    from fedsim.config import RunConfig
    from fedsim.control import _registry
    from fedsim.strategies import STRATEGY_NAMES, strategy_module

    conf = conf_dir()
    schema = RunConfig().to_dict()
    out += [
        "## Config groups",
        "",
        "`fedsim run GROUP=OPTION` applies a preset: the file `conf/GROUP/OPTION.yaml`, on top of the "
        "schema's defaults above. **changes** lists the keys whose value the option changes from those "
        "defaults. The defaults list of `conf/config.yaml` picks each group's default option.",
        "",
    ]
    defaults = default_group_options()
    for group in sorted(d.name for d in conf.iterdir() if d.is_dir() and not d.name.startswith("_")):
        out += [f"### `{group}`", "", f"Default: `{group}={defaults.get(group)}`.", ""]
        base = flatten_config(schema.get(group, {}))
        rows = []
        for path in sorted((conf / group).glob("*.yaml")):
            keys = _option_keys(conf / group, path.stem)
            changes = [f"{group}.{k}={value_text(v)}" for k, v in keys.items() if not (k in base and _same(base[k], v))]
            rows.append([code(path.stem), _yaml_header(path), ", ".join(code(c) for c in changes) or "nothing (the schema's defaults)"])
        out += table(["option", "what it is", "changes"], rows) + [""]
    out += ["### `policy`", "", f"Default: `policy={defaults.get('policy')}`. Options come from the policy registry.", ""]
    rows = []
    for name in _registry.POLICY_NAMES:
        module = _registry.POLICIES[name].partition(":")[0] if name in _registry.POLICIES else f"fedsim.control._{name}"
        rows.append([code(name), module_doc(module) if importlib.util.find_spec(module) else ""])
    out += table(["option", "what it is"], rows) + [""]
    out += ["### `strategy`", "", f"Default: `strategy={defaults.get('strategy')}`. Options come from the strategy registry; "
            "their keys are listed under [`strategy`](#strategy) above.", ""]
    rows = [[code(name), first_paragraph(strategy_module(name).__doc__)] for name in STRATEGY_NAMES]
    out += table(["option", "what it is"], rows) + [""]
    out += [
        "## Scenarios",
        "",
        "`fedsim run scenario=NAME` (or `fedsim reproduce NAME`) applies `scenarios/NAME.yaml` on top of the defaults.",
        "",
    ]
    rows = [[code(path.stem), _yaml_header(path)] for path in sorted(scenarios_dir().glob("*.yaml"))]
    out += table(["scenario", "what it is"], rows) + [""]


def render_configuration() -> str:
    from fedsim.config import RunConfig

    out = banner("Configuration reference", "`fedsim.config.RunConfig`, its sections, `conf/` and `scenarios/`")
    out += [
        "Every key of a run, dotted as you write it on the command line (`fedsim run radio.tx_power_w=0.2`) "
        "or in Python (`fedsim.compose([\"radio.tx_power_w=0.2\"])`). **allowed** is the validator's own "
        "statement (a bad value stops the command with exit status 2 and one line naming the key, the value "
        "and this text); it is empty where the validator states no bound. **unit** comes from the key's "
        "suffix (`_s`, `_w`, `_j`, `_hz`, `_db`, `_dbm`, `_m`, ...); **description** is the source comment "
        "of the field, where it has one.",
        "",
    ]
    _section_block("", RunConfig, RunConfig(), out)
    _groups_block(out)
    return "\n".join(out).rstrip() + "\n"


# --- ledger ----------------------------------------------------------------------------------------

# What each drop reason means: the names come from the code (DROP_REASONS, ASYNC_DROP_REASONS); a
# reason without a meaning here fails tests/docs/test_docs_reference.py.
DROP_REASON_MEANINGS = {
    "": "delivered (no drop)",
    "deadline": "the upload finished after `world.deadline_s`",
    "packet_error": "the upload was lost to a packet error (`radio.waterfall_threshold`)",
    "harq_exhausted": "a transport block failed all `radio.harq_max_tx` HARQ transmissions (`radio.rate_model` nr or lte)",
    "battery": "the device's battery (`devices.battery_j`) could not pay for the round",
    "handover": "a handover or radio-link failure interrupted the drone's upload (`mobility=drone_routes`)",
    "message_loss": "an injected fault lost the upload in the air (`faults.message_loss_prob`)",
    "client_error": "the ClientApp raised (a real error, or `faults.client_crash_prob`)",
    "nonfinite_update": "the update held NaN or inf and was excluded (`faults.nonfinite_prob`, or a diverging client)",
    "unavailable": "the device went offline before its upload arrived (`availability`)",
}


def _extra_columns() -> list[tuple[str, str, str]]:
    """Every ``Column(name, doc)`` declared under fedsim/: (name, doc, module)."""
    found = []
    for path in sorted((ROOT / "fedsim").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "Column(" not in text:
            continue
        tree, _, _ = _source(path)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Column"
                    and node.args and all(isinstance(a, ast.Constant) for a in node.args)):
                name, doc = node.args[0].value, node.args[1].value if len(node.args) > 1 else ""
                module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                found.append((name, doc, module))
    return found


def _finish_keys() -> list[tuple[str, str, str]]:
    """The keys each runner hands ``finish_run`` for summary.json: (key, runner module, comment)."""
    found: dict[str, tuple[list[str], str]] = {}
    for path in sorted((ROOT / "fedsim").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "finish_run(" not in text:
            continue
        tree, _, comments = _source(path)
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "finish_run" and len(node.args) > 2:
                mapping = node.args[2]
                if not isinstance(mapping, ast.Dict):
                    continue
                for key in mapping.keys:
                    if isinstance(key, ast.Constant):
                        runners, comment = found.setdefault(key.value, ([], ""))
                        if module not in runners:
                            runners.append(module)
                        found[key.value] = (runners, comment or comments.get(key.lineno, ""))
    return [(key, ", ".join(runners), comment) for key, (runners, comment) in found.items()]


def render_ledger_schema() -> str:
    from fedsim import ledger
    from fedsim.world import ASYNC_DROP_REASONS, DROP_REASONS

    out = banner("Ledger schema", "`fedsim.ledger` (and the runners that fill `summary.json`)")
    out += [
        f"A run directory holds `{ledger.ROUNDS_FILE}` (one row per round), `{ledger.DEVICES_FILE}` (one row per "
        f"selected device and round), `{ledger.SUMMARY_FILE}` (written last, only for a finished run) and "
        f"`{ledger.CONFIG_FILE}` (the resolved configuration). An empty CSV cell is a missing value (`null`); "
        "a boolean is written `1` or `0`; floats are written in their shortest round-trip form, so the same "
        "seed gives byte-identical files. Units are SI and are in the column names.",
        "",
    ]
    for title, schema in ((ledger.ROUNDS_FILE, ledger.RoundRow), (ledger.DEVICES_FILE, ledger.DeviceRow)):
        described = {**field_comments(schema), **docstring_attributes(schema)}
        hints = typing.get_type_hints(schema)
        out += [f"## `{title}`", "", first_paragraph(schema.__doc__), ""]
        rows = [[code(f.name), type_name(hints[f.name]), unit_of(f.name), described.get(f.name, "")] for f in dataclasses.fields(schema)]
        out += table(["column", "type", "unit", "description"], rows) + [""]
    out += [
        "## Columns a task or engine adds",
        "",
        "After the schema's own columns, a task (or the engine running it) appends its declared "
        "`Column`s; which ones a run has depends on its model, strategy and engine.",
        "",
    ]
    out += table(["column", "declared in", "description"], [[code(n), code(m), d] for n, d, m in _extra_columns()]) + [""]
    probe = ledger.Ledger(None)
    zero = {f.name: (0.0 if "float" in str(f.type) else 0) for f in dataclasses.fields(ledger.RoundRow)}
    probe.record_round(ledger.RoundRow(**zero), [])
    summary = probe.summary(0.5)
    described = docstring_bullets(ledger.Ledger.summary.__doc__)
    out += [
        f"## `{ledger.SUMMARY_FILE}`",
        "",
        "The headline numbers (`Ledger.summary`); JSON's `null` where a value is missing or non-finite.",
        "",
    ]
    rows = [[code(key), unit_of(key), described.get(key, "")] for key in summary]
    out += table(["key", "unit", "description"], rows) + [""]
    out += ["Each runner adds what it ran with (and `artifacts`, the files a task wrote, when a model was saved; "
            "`stopped` and `stopped_round` when a run stopped early):", ""]
    rows = [[code(key), unit_of(key), code(runners), comment] for key, runners, comment in _finish_keys()]
    out += table(["key", "unit", "written by", "note"], rows) + [""]
    out += [
        "## Drop reasons",
        "",
        "`devices.csv`'s `drop_reason` is empty for a delivered update, else one of these "
        "(`fedsim.world.DROP_REASONS` for synchronous rounds, `fedsim.world.ASYNC_DROP_REASONS` for the event-driven world).",
        "",
    ]
    rows = [[code(reason) if reason else "(empty)", "yes" if reason in DROP_REASONS else "", "yes" if reason in ASYNC_DROP_REASONS else "",
             DROP_REASON_MEANINGS.get(reason, "")] for reason in dict.fromkeys((*DROP_REASONS, *ASYNC_DROP_REASONS))]
    out += table(["drop_reason", "synchronous", "asynchronous", "meaning"], rows)
    return "\n".join(out).rstrip() + "\n"


# --- command line ----------------------------------------------------------------------------------

HELP_COMMANDS = ([], ["run", "--help"], ["optimize", "--help"], ["resume", "--help"], ["reproduce", "--help"], ["plot", "--help"],
                 ["run-app", "--help"])


def render_cli() -> str:
    from fedsim.cli import main

    out = banner("Command line", "`fedsim.cli` (its help texts)")
    out += [
        "`fedsim COMMAND --help` prints each text below. `fedsim run` and `fedsim optimize` take Hydra "
        "overrides (`key=value`, `group=option`, `-m` for a sweep); their help lists the main keys, and every key "
        "is in the [configuration reference](configuration.md); `fedsim run --cfg job` prints the composed configuration. "
        "A bad value exits with status 2 and one line naming the key, the value and what is allowed.",
        "",
    ]
    for args in HELP_COMMANDS:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            status = main(args)
        if status != 0:
            raise RuntimeError(f"fedsim {' '.join(args)} exited {status}")
        title = f"fedsim {args[0]}" if args else "fedsim"
        out += [f"## `{title}`", "", "```text", buffer.getvalue().rstrip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"


PAGES: dict[str, Callable[[], str]] = {
    "configuration.md": render_configuration,
    "ledger-schema.md": render_ledger_schema,
    "cli.md": render_cli,
}


def stale_pages() -> list[str]:
    """The generated pages whose committed text differs from what the code gives now."""
    stale = []
    for name, render in PAGES.items():
        path = REFERENCE / name
        if not path.is_file() or path.read_text(encoding="utf-8") != render():
            stale.append(f"docs/reference/{name}")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated page differs from the code")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages()
        for name in stale:
            print(f"{name} is out of date: run {COMMAND}", file=sys.stderr)
        return 1 if stale else 0
    REFERENCE.mkdir(parents=True, exist_ok=True)
    for name, render in PAGES.items():
        (REFERENCE / name).write_text(render(), encoding="utf-8")
        print(f"wrote docs/reference/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
