"""The ``fedsim`` command line.

    fedsim run [hydra overrides]        one run (or a sweep with -m), ledger in the Hydra output dir
    fedsim resume DIR                   continue a killed run from its last completed round
    fedsim optimize [hydra overrides]   Pareto-optimal operating points of the analytic model
    fedsim reproduce NAME [overrides]   a paper scenario's report, paper numbers beside ours
    fedsim plot DIR [RUN_DIR ...]       figures for a run or sweep directory; several runs: a comparison

Every command accepts ``scenario=NAME`` (a file of ``scenarios/``) and Hydra overrides such as
``hydra.run.dir=...``. A bad value stops the command before any work with one line naming the
key, the value and what is allowed, and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ._compose import check_group_choices, check_sweep, conf_dir, register_scenarios, scenario_names, translate_retired

USAGE = """usage: fedsim COMMAND [ARGS]

commands:
  run  [--overwrite] [overrides]
                     run one federated experiment (add -m for a sweep); a directory that
                     already holds a run is refused unless --overwrite, e.g.
                     fedsim run op.train_bits=4 op.uplink_bits=4 rounds=20
                     fedsim run -m op.train_bits=4,8,16,32
  resume DIR         continue a killed `fedsim run` from its last completed round (a
                     checkpoint is written after every round); the ledger comes out as an
                     uninterrupted run's, e.g. fedsim resume outputs/2026-01-31/12-00-00
  optimize [overrides]  Pareto front of (energy, rounds) over (I, K, m, n) by NBI, and the
                     Nash bargaining / SUM / E_min / T_min picks: pareto.csv, choice.json, pareto.png
  reproduce NAME     reproduce a paper scenario: report.md, report.json and figures, e.g.
                     fedsim reproduce kim2023_green_qfl dataset.path=/data/mnist
  run-app SERVER CLIENT [overrides] [--output=DIR]
                     run any Flower app in the wireless world: SERVER and CLIENT are
                     MODULE:OBJECT paths to its ServerApp and ClientApp (or one directory
                     whose pyproject.toml has [tool.flwr.app.components]), e.g.
                     fedsim run-app app:server_app app:client_app devices.energy.macs=650
  flwr-run [flwr run arguments]
                     flwr run on Flower's runtimes (Ray simulation or SuperLink), then wait:
                     exit 1 with the failure's line if the run did not complete, e.g.
                     fedsim flwr-run . -c 'overrides="rounds=3" output-dir="/abs/out"'
  plot DIR           plot a run directory (accuracy vs rounds and vs energy) or a sweep
                     directory (energy-accuracy trade-off)
  plot RUN RUN ...   compare runs (e.g. sync and async): accuracy vs simulated time and
                     vs energy on shared axes, written into their common parent directory

overrides are Hydra's key=value; `scenario=NAME` loads scenarios/NAME.yaml.
"""

EXIT_BAD_INPUT = 2


def hydra_command(task: Callable, args: Sequence[str], prog: str) -> int:
    """Run ``task(cfg)`` under Hydra with ``args`` as its command line."""
    import hydra

    from .errors import ConfigError

    args = translate_retired(args)
    overrides = [a for a in args if not a.startswith("-")]
    try:
        if "-m" in args or "--multirun" in args:
            check_sweep(overrides)
        else:
            check_group_choices(overrides)
    except ConfigError as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    register_scenarios()
    main = hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")(task)
    saved = sys.argv
    sys.argv = [prog, *args]
    try:
        main()
    finally:
        sys.argv = saved
    return 0


def _task(job: Callable) -> Callable:
    """A Hydra task: validate the composed config, run ``job(config, output_dir)``, report errors
    in one line with exit status 2."""

    def task(cfg) -> object:
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import OmegaConf

        from .config import RunConfig
        from .errors import ClientAppError, ConfigError, DataError, ModelDivergedError

        output_dir = Path(HydraConfig.get().runtime.output_dir)
        try:
            config = RunConfig.from_mapping(OmegaConf.to_container(cfg, resolve=True))
            return job(config, output_dir)
        except (ConfigError, DataError) as error:
            print(f"fedsim: error: {error}", file=sys.stderr)
            _discard_hydra_record(output_dir)
            sys.exit(EXIT_BAD_INPUT)
        except (ClientAppError, ModelDivergedError) as error:  # the run failed, not the input
            print(f"fedsim: error: {error}", file=sys.stderr)
            sys.exit(1)

    task.__name__ = job.__name__  # Hydra names the job (and its log file) after the task
    return task


def _discard_hydra_record(output_dir: Path) -> None:
    """Bad input leaves no run directory behind: Hydra made it (``.hydra/`` and the job log)
    before the config was validated, and the writer lock may be there. A directory holding
    anything else is left alone."""
    import shutil

    from ._run_lock import LOCK_FILE

    if output_dir.is_dir() and all(p.name in (".hydra", LOCK_FILE) or p.suffix == ".log" for p in output_dir.iterdir()):
        shutil.rmtree(output_dir, ignore_errors=True)


OVERWRITE_ENV = "FEDSIM_OVERWRITE"  # set by `fedsim run --overwrite` (an environment variable: a parallel launcher's workers see it)


def _run(config, output_dir: Path) -> float:
    import os

    from ._run import run

    return _report(run(config, output_dir, progress=True, overwrite=os.environ.get(OVERWRITE_ENV) == "1"))


def _report(result) -> float:
    """The run's summary as a one-row table and where its ledger is; returns the final accuracy
    (what a Hydra sweep's optimizer reads)."""
    from analysis import summary_table

    s = result.summary
    op = s["op"]
    row = {
        "n": op["train_bits"],
        "m": op["uplink_bits"],
        "I": op["local_iters"],
        "K": op["devices_per_round"],
        "rounds": s["rounds"],
        "final_acc": f"{s['final_accuracy']:.4f}",
        "energy_J": f"{s['total_energy_j']:.4g}",
        "sim_time_s": f"{s['sim_time_s']:.4g}",
        "rounds_to_target": s["rounds_to_target"] if s["rounds_to_target"] is not None else "-",
        "energy_to_target_J": f"{s['energy_to_target_j']:.4g}" if s["energy_to_target_j"] is not None else "-",
    }
    perplexity = result.rounds[-1].get("test_perplexity")
    if perplexity is not None:  # language-model tasks
        row["perplexity"] = f"{perplexity:.4g}"
    print(summary_table([row], list(row)))
    print(f"ledger: {result.output_dir}")
    return s["final_accuracy"]


def _run_command(args: Sequence[str]) -> int:
    """``fedsim run [--overwrite] [overrides]``: ``--overwrite`` replaces a run already in the directory."""
    import os

    if "--overwrite" in args:
        os.environ[OVERWRITE_ENV] = "1"
        args = [a for a in args if a != "--overwrite"]
    try:
        return hydra_command(_task(_run), args, "fedsim run")
    finally:
        os.environ.pop(OVERWRITE_ENV, None)


def _resume(args: Sequence[str]) -> int:
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: fedsim resume DIR", file=sys.stderr)
        return EXIT_BAD_INPUT
    from ._run import resume
    from .errors import ClientAppError, ConfigError, DataError, ModelDivergedError

    try:
        result = resume(Path(args[0]), progress=True)
    except (ConfigError, DataError) as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ClientAppError, ModelDivergedError) as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return 1
    _report(result)
    return 0


def _optimize(config, output_dir: Path) -> None:
    from analysis import summary_table

    from ._run import write_config
    from .controller import study, write_study

    write_config(config, output_dir)
    result = study(config)
    written = write_study(result, output_dir)
    rows = [{"point": name, **row} for name, row in result.choices.items()]
    for row in rows:
        row["energy_j"], row["rounds"] = f"{row['energy_j']:.4g}", f"{row['rounds']:.1f}"
    print(f"n_min = {result.problem.n_min}; {len(result.front.F)} Pareto points ({result.front.time_s:.2f} s)")
    print(summary_table(rows, ["point", "I", "K", "m", "n", "energy_j", "rounds"]))
    for path in written:
        print(path)


def _reproduce(config, output_dir: Path) -> None:
    from .reproduce import reproduce

    report = reproduce(config, output_dir, progress=True)
    for check in report.checks:
        measured = f"{check.measured:.4g}" if isinstance(check.measured, float) else check.measured
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: paper {check.paper}, fedsim {measured}")
    print(f"report: {output_dir / 'report.md'}")
    if not report.passed:
        sys.exit(1)  # a reproduction whose checks fail is a failed command (the report is written)


def _reproduce_command(args: Sequence[str]) -> int:
    if not args or "=" in args[0] or args[0].startswith("-"):
        names = ", ".join(n for n in scenario_names())
        print(f"usage: fedsim reproduce NAME [overrides]   (NAME: {names})", file=sys.stderr)
        return EXIT_BAD_INPUT
    return hydra_command(_task(_reproduce), [f"scenario={args[0]}", *args[1:]], "fedsim reproduce")


def _flwr_run_command(args: Sequence[str]) -> int:
    from ._flwr_run import flwr_run

    return flwr_run(args)


def _plot(args: Sequence[str]) -> int:
    if not args or any(a.startswith("-") for a in args):
        print("usage: fedsim plot DIR [RUN_DIR ...]", file=sys.stderr)
        return EXIT_BAD_INPUT
    from analysis import LedgerError, plot_paths

    try:
        written = plot_paths([Path(a) for a in args])
    except (FileNotFoundError, LedgerError) as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in written:
        print(path)
    return 0


def _load_object(path: str, key: str, kind: type) -> object:
    """``MODULE:OBJECT`` imported from the current directory, checked to be a ``kind``."""
    import importlib

    from .errors import ConfigError

    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise ConfigError(key, path, f"MODULE:OBJECT naming a {kind.__name__}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the user's app lives next to where the command runs
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(key, path, f"an importable MODULE:OBJECT ({type(error).__name__}: {error})") from None
    if not isinstance(obj, kind):
        raise ConfigError(key, path, f"a {kind.__module__}.{kind.__name__}, not a {type(obj).__name__}")
    return obj


def _app_components(directory: Path) -> tuple[str, str]:
    """The ServerApp and ClientApp paths of a Flower app directory's pyproject.toml."""
    import tomllib

    from .errors import ConfigError

    try:
        components = tomllib.loads((directory / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["components"]
        return components["serverapp"], components["clientapp"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        raise ConfigError("app", str(directory), "a directory whose pyproject.toml has [tool.flwr.app.components]") from None


def _run_app(args: Sequence[str]) -> int:
    import os

    from .errors import ConfigError, DataError

    output = next((a.split("=", 1)[1] for a in args if a.startswith("--output=")), None)
    rest = [a for a in args if not a.startswith("--output=")]
    positional = [a for a in rest if "=" not in a]
    overrides = [a for a in rest if "=" in a]
    try:
        if len(positional) == 1 and Path(positional[0]).is_dir():
            directory = Path(positional[0]).resolve()
            server_path, client_path = _app_components(directory)
            os.chdir(directory)
        elif len(positional) == 2:
            server_path, client_path = positional
        else:
            print("usage: fedsim run-app MODULE:SERVER_APP MODULE:CLIENT_APP [overrides] [--output=DIR]", file=sys.stderr)
            return EXIT_BAD_INPUT
        from flwr.clientapp import ClientApp
        from flwr.serverapp import ServerApp

        from ._compose import compose
        from ._run_app import run_flower_app

        server_app = _load_object(server_path, "server_app", ServerApp)
        client_app = _load_object(client_path, "client_app", ClientApp)
        check_group_choices(overrides)
        config = compose(overrides)
        if output is None:
            import time

            output = str(Path("outputs") / time.strftime("%Y-%m-%d") / f"run-app-{time.strftime('%H-%M-%S')}")
        result = run_flower_app(server_app, client_app, config, output)
    except (ConfigError, DataError) as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    s = result.summary
    print(f"final accuracy {s['final_accuracy']}, energy {s['total_energy_j']:.4g} J, simulated {s['sim_time_s']:.4g} s")
    print(f"ledger: {output}")
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "run": lambda args: _run_command(args),
    "resume": _resume,
    "optimize": lambda args: hydra_command(_task(_optimize), args, "fedsim optimize"),
    "reproduce": _reproduce_command,
    "run-app": _run_app,
    "flwr-run": _flwr_run_command,
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
