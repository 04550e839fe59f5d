"""The ``fedsim`` command line.

    fedsim run [hydra overrides]        one run (or a sweep with -m), ledger in the Hydra output dir
    fedsim plot DIR                     figures for a run directory or a sweep directory

Every command accepts ``scenario=NAME`` (a file of ``scenarios/``) and Hydra overrides such as
``hydra.run.dir=...``. A bad value stops the command before any work with one line naming the
key, the value and what is allowed, and exit status 2.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

USAGE = """usage: fedsim COMMAND [ARGS]

commands:
  run  [overrides]   run one federated experiment (add -m for a sweep), e.g.
                     fedsim run op.train_bits=4 op.uplink_bits=4 rounds=20
                     fedsim run -m op.train_bits=4,8,16,32
  plot DIR           plot a run directory (accuracy vs rounds and vs energy) or a sweep
                     directory (energy-accuracy trade-off)

overrides are Hydra's key=value; `scenario=NAME` loads scenarios/NAME.yaml.
"""

EXIT_BAD_INPUT = 2


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
    return groups


def check_group_choices(overrides: Sequence[str]) -> None:
    """Reject ``group=option`` overrides whose option does not exist, in one line.

    Hydra would say so too, but over several lines with its search path; checking here keeps
    the promise of one line with the key, the value and what is allowed.
    """
    from .errors import ConfigError

    groups = _group_options()
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        if not sep or key not in groups:
            continue
        for choice in value.split(","):
            choice = choice.strip()
            if choice and choice != "null" and choice not in groups[key]:
                raise ConfigError(key, choice, f"one of {', '.join(groups[key]) or '(none available)'}")


def _register_scenarios() -> None:
    """Make every ``scenarios/*.yaml`` a Hydra option of the group ``scenario``.

    Scenarios live at the top of the repository (next to the papers they reproduce), not inside
    ``conf/``; the ConfigStore lets Hydra compose them like any group, defaults lists included.
    """
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    for path in sorted(scenarios_dir().glob("*.yaml")):
        store.store(group="scenario", name=path.stem, node=OmegaConf.load(path), package="_global_")


def hydra_command(task: Callable, args: Sequence[str], prog: str) -> int:
    """Run ``task(cfg)`` under Hydra with ``args`` as its command line."""
    import hydra

    from .errors import ConfigError

    try:
        check_group_choices([a for a in args if not a.startswith("-")])
    except ConfigError as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    _register_scenarios()
    main = hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")(task)
    saved = sys.argv
    sys.argv = [prog, *args]
    try:
        main()
    finally:
        sys.argv = saved
    return 0


def _run_task(cfg) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from ._run import run
    from .config import RunConfig
    from .errors import ConfigError, DataError
    from analysis import summary_table

    container = OmegaConf.to_container(cfg, resolve=True)
    try:
        config = RunConfig.from_mapping(container)
        output_dir = Path(HydraConfig.get().runtime.output_dir)
        result = run(config, output_dir, progress=True)
    except (ConfigError, DataError) as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    s = result.summary
    row = {
        "n": config.op.train_bits,
        "m": config.op.uplink_bits,
        "I": config.op.local_iters,
        "K": config.op.devices_per_round,
        "rounds": s["rounds"],
        "final_acc": f"{s['final_accuracy']:.4f}",
        "energy_J": f"{s['total_energy_j']:.4g}",
        "sim_time_s": f"{s['sim_time_s']:.4g}",
        "rounds_to_target": s["rounds_to_target"] if s["rounds_to_target"] is not None else "-",
        "energy_to_target_J": f"{s['energy_to_target_j']:.4g}" if s["energy_to_target_j"] is not None else "-",
    }
    print(summary_table([row], list(row)))
    print(f"ledger: {output_dir}")
    return s["final_accuracy"]


def _plot(args: Sequence[str]) -> int:
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: fedsim plot DIR", file=sys.stderr)
        return EXIT_BAD_INPUT
    from analysis import plot_path

    try:
        written = plot_path(Path(args[0]))
    except FileNotFoundError as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in written:
        print(path)
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "run": lambda args: hydra_command(_run_task, args, "fedsim run"),
    "plot": _plot,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"fedsim: error: command={args[0]!r} is not allowed: one of {', '.join(COMMANDS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return command(args[1:])


if __name__ == "__main__":
    sys.exit(main())
