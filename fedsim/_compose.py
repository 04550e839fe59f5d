"""Hydra composition of fedsim's configs, for the CLI and for Python (``fedsim.compose``).

``conf/`` holds the config groups; every ``scenarios/*.yaml`` becomes an option of the group
``scenario``. Scenarios live at the top of the repository (next to the papers they reproduce),
not inside ``conf/``; Hydra's ConfigStore lets them compose like any group, defaults included.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import re
import typing
from collections.abc import Sequence
from pathlib import Path

from .config import RunConfig
from .config._schema import section_type
from ._warn import warn_once
from .config._strategy import strategy_defaults
from .control._registry import POLICY_NAMES
from .strategies import STRATEGY_NAMES
from .errors import ConfigError


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"fedsim is not installed correctly: package {name!r} not found")
    return Path(next(iter(spec.submodule_search_locations)))


def conf_dir() -> Path:
    return _package_dir("conf")


def scenarios_dir() -> Path:
    return _package_dir("scenarios")


def scenario_names() -> list[str]:
    return sorted(p.stem for p in scenarios_dir().glob("*.yaml"))


def _group_options() -> dict[str, list[str]]:
    groups = {d.name: sorted(p.stem for p in d.glob("*.yaml")) for d in conf_dir().iterdir() if d.is_dir() and not d.name.startswith("_")}
    groups["scenario"] = scenario_names()
    groups["policy"] = list(POLICY_NAMES)
    groups["strategy"] = list(STRATEGY_NAMES)
    return groups


def default_group_options() -> dict[str, str]:
    """Each config group's default option, as conf/config.yaml's defaults list names it."""
    import yaml

    defaults = yaml.safe_load((conf_dir() / "config.yaml").read_text(encoding="utf-8")).get("defaults", [])
    return {k: str(v) for item in defaults if isinstance(item, dict) for k, v in item.items()}


_RETIRED = re.compile(r"^([+~]*)federation(\.|=)")


def translate_retired(overrides: Sequence[str]) -> list[str]:
    """Overrides with the retired ``federation`` spelling (``federation=fedbuff``,
    ``federation.buffer_size=5``) rewritten to ``strategy``, each with a one-line warning."""
    out = []
    for override in overrides:
        match = _RETIRED.match(override)
        if match:
            new = f"{match.group(1)}strategy{override[len(match.group(0)) - 1:]}"
            if new.startswith(("strategy.name=", "+strategy.name=")):
                new = "strategy=" + new.split("=", 1)[1]
            warn_once(f"{override} is deprecated: use {new}")
            override = new
        out.append(override)
    return out


def check_override_key(key: str, value: str) -> None:
    """Reject an override of a key no section has, in one line, with the closest known key.

    Hydra says "Key 'x' is not in struct" over several lines; this names the key the user
    wrote and what they probably meant (``radio.tx_powr_w`` -> ``radio.tx_power_w``).
    """
    if re.match(r"hydra($|[./])", key):  # Hydra's own keys and groups (hydra/launcher=joblib)
        return
    section: type = RunConfig
    path: list[str] = []
    for part in key.split("."):
        hints = typing.get_type_hints(section)
        names = [f.name for f in dataclasses.fields(section)]
        if part not in names:
            close = difflib.get_close_matches(part, names, n=1, cutoff=0.6)
            where = ".".join(path) or "the top level"
            hint = f"; did you mean {'.'.join([*path, close[0]])}?" if close else ""
            raise ConfigError(key, value, f"not a known key{hint} (keys of {where}: {', '.join(names)})")
        path.append(part)
        inner = section_type(hints[part])
        if inner is None:  # a value, or a free-form mapping (scenario notes): nothing below to check
            return
        section = inner
    # The key names a whole section: ``partition=shards`` would replace the mapping with a string,
    # and a later ``partition.kind=...`` then fails inside Hydra over several lines.
    if not value.strip().startswith("{") and value.strip() not in ("", "null"):
        names = ", ".join(f.name for f in dataclasses.fields(section))
        raise ConfigError(key, value, f"a mapping of {section.__name__} fields; set one as {key}.FIELD=VALUE ({names})")


def check_group_choices(overrides: Sequence[str]) -> None:
    """Reject, in one line, ``group=option`` overrides whose option does not exist and keys that
    no section has.

    Hydra would say so too, but over several lines with its search path; checking here keeps
    the promise of one line with the key, the value and what is allowed.
    """
    groups = _group_options()
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        if not sep:
            continue
        if key not in groups:
            check_override_key(key, value)
            continue
        for choice in value.split(","):
            choice = choice.strip()
            if choice in ("null", ""):  # Hydra would drop the group (or fail on scenario's null default)
                need = "leave scenario out for none" if key == "scenario" else "a run needs one; null removes it"
                raise ConfigError(key, None, f"one of {', '.join(groups[key])} ({need})")
            if choice and choice != "null" and choice not in groups[key]:
                raise ConfigError(key, choice, f"one of {', '.join(groups[key]) or '(none available)'}")
            if key == "scenario" and choice in groups[key]:
                problem = load_scenario(scenarios_dir() / f"{choice}.yaml")
                if isinstance(problem, str):
                    raise ConfigError(key, choice, f"a readable scenario file; scenarios/{choice}.yaml: {problem}")


_SCENARIO_NAMES = re.compile(r"^[\w.-]+(,[\w.-]+)*$")


def chosen_scenarios(overrides: Sequence[str]) -> list[str] | None:
    """The scenario names ``overrides`` choose (``scenario=a`` or a sweep ``scenario=a,b``): [] for
    none, None where a sweep expression (``glob(*)``, ``choice(...)``) may choose any."""
    names: list[str] = []
    for override in overrides:
        key, sep, value = override.partition("=")
        if sep and key.lstrip("+~") == "scenario":
            if not _SCENARIO_NAMES.match(value.strip()):
                return None
            names += [name for name in value.strip().split(",") if name != "null"]
    return names


def register_scenarios(only: Sequence[str] | None = None) -> None:
    """Make ``scenarios/*.yaml`` (those named in ``only``; None: every one) options of the group
    ``scenario``, and every registered policy one of the group ``policy`` (idempotent). A run reads
    the scenario files it chose only: reading all of them costs start-up."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("scenario_data"):
        # ${scenario_data:FILE}: a data file shipped with the scenarios (e.g. a paper's sigma_i).
        OmegaConf.register_new_resolver("scenario_data", lambda name: str(scenarios_dir() / "data" / name))
    store = ConfigStore.instance()
    # Every default comes from the typed schema (RunConfig and the World's sections), once:
    # conf/config.yaml lists the groups and the keys worth reading first, and restates no default.
    store.store(name="fedsim_base", node=RunConfig().to_dict())
    # Each registered policy and strategy is an option of its group (no YAML file per option).
    for name in POLICY_NAMES:
        store.store(group="policy", name=name, node={"name": name})
    for name in STRATEGY_NAMES:
        store.store(group="strategy", name=name, node=strategy_defaults(name))
    pending = scenario_names() if only is None else list(only)
    stored: set[str] = set()
    while pending:
        name = pending.pop()
        path = scenarios_dir() / f"{name}.yaml"
        if name in stored or not path.is_file():  # an unknown name: check_group_choices says so in one line
            continue
        stored.add(name)
        node = load_scenario(path)
        if not isinstance(node, str):  # a broken file is refused when chosen, not here
            store.store(group="scenario", name=name, node=node, package="_global_")
            pending += _scenarios_named_in_defaults(node)  # a scenario built on another (kim2022 on kim2023)


def _scenarios_named_in_defaults(node) -> list[str]:
    """Scenario names a scenario's ``defaults`` list refers to (bare names are of its own group)."""
    names = []
    for entry in node.get("defaults") or []:
        if isinstance(entry, str):
            names.append(entry.removeprefix("/scenario/").removeprefix("scenario/"))
    return names


def load_scenario(path: Path):
    """A scenario file's config, or the one-line reason it cannot be one.

    Scenarios are read one by one, so a broken file affects only runs that choose it.
    """
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    try:
        node = OmegaConf.load(path)
    except (OSError, UnicodeDecodeError, YAMLError, OmegaConfBaseException) as error:
        reason = " ".join(str(error).split())  # YAML's message spans lines: one line here
        return f"{type(error).__name__}: {reason}"
    if not isinstance(node, DictConfig):
        return f"a YAML mapping of config sections at the top, not a {type(node).__name__}"
    return node


def hydra_error_line(error: Exception) -> str:
    """Hydra's (or OmegaConf's) error as one line: its first lines, without its links."""
    from hydra.errors import OverrideParseException

    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not line.strip().startswith("See https://")]
    if isinstance(error, OverrideParseException):
        return str(_grammar_error(error))
    return " ".join(lines[:2]) or type(error).__name__


def _grammar_error(error) -> ConfigError:
    """An override Hydra's grammar cannot parse (``rounds``, ``rounds==3``, ``rounds=[1,2``)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not line.strip().startswith("See https://")]
    detail = next((line for line in lines if not line.startswith("Error parsing override")), "")
    return ConfigError("override", error.override, f"KEY=VALUE in Hydra's override grammar ({detail.split(' expecting ')[0]})")


def compose(overrides: Sequence[str] = ()) -> RunConfig:
    """The validated RunConfig that ``fedsim run OVERRIDES`` would use, e.g.
    ``compose(["scenario=kim2023_green_qfl", "optimizer.n_points=30"])``. Overrides Hydra cannot
    parse or compose are a one-line ConfigError too."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException, OverrideParseException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    overrides = translate_retired(overrides)
    check_group_choices(overrides)
    register_scenarios(chosen_scenarios(overrides))
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        mapping = OmegaConf.to_container(cfg, resolve=True)
    except OverrideParseException as error:
        raise _grammar_error(error) from None
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError("overrides", " ".join(overrides), f"overrides Hydra can compose ({hydra_error_line(error)})") from None
    return RunConfig.from_mapping(mapping)


def _compose_each(jobs: Sequence[Sequence[str]], compositions: dict | None = None) -> list[RunConfig]:
    """The validated RunConfig of each job's overrides, under one Hydra initialization.

    A full composition costs ~0.15 s, so jobs that differ only in values (a sweep over seeds)
    share the composition of their group choices and get their values applied the way Hydra
    applies them (its own override step), which takes microseconds. ``compositions`` keeps
    those compositions across calls (a caller checking many commands, e.g. the docs' examples);
    scenarios are registered once for it.
    """
    import copy

    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    if not compositions:  # a caller's cache registered them on its first call
        register_scenarios()
    composed: dict[tuple[str, ...], object] = {} if compositions is None else compositions
    groups = _group_options()
    parser = OverridesParser.create()
    configs = []
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        for overrides in jobs:
            parsed = parser.parse_overrides(list(overrides))
            is_value = [o.package is None and not (o.is_add() or o.is_delete() or o.is_force_add())
                        and o.key_or_group not in groups and "/" not in o.key_or_group for o in parsed]
            structure = tuple(o.input_line for o, v in zip(parsed, is_value) if not v)
            if structure not in composed:
                composed[structure] = hydra_compose(config_name="config", overrides=list(structure))
            cfg = copy.deepcopy(composed[structure])
            ConfigLoaderImpl._apply_overrides_to_config([o for o, v in zip(parsed, is_value) if v], cfg)
            configs.append(RunConfig.from_mapping(OmegaConf.to_container(cfg, resolve=True)))
    return configs


def sweep_jobs(overrides: Sequence[str]) -> list[list[str]]:
    """The overrides of every job a ``-m`` sweep over ``overrides`` runs (Hydra's own expansion:
    comma lists, ``range(...)``, ``choice(...)``), without Hydra's own keys."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([o for o in overrides if not re.match(r"[+~]*hydra($|[./=])", o)])
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def check_sweep(overrides: Sequence[str]) -> int:
    """Validate every job of a sweep before the first one runs (a bad value in the last job must
    not cost the good jobs' time first); the number of jobs."""
    check_group_choices(overrides)
    jobs = sweep_jobs(overrides)
    _compose_each(jobs)  # composing validates; the jobs then run under Hydra's own launcher
    return len(jobs)
