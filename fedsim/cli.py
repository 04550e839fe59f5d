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

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ._compose import (
    check_group_choices, check_sweep, chosen_scenarios, conf_dir, hydra_error_line, register_scenarios, scenario_names, translate_retired,
)
from ._gc import collector_paused

USAGE = """usage: fedsim COMMAND [ARGS]

commands:
  run  [--overwrite] [overrides]
                     run one federated experiment (add -m for a sweep); a directory that
                     already holds a run is refused unless --overwrite, e.g.
                     fedsim run op.train_bits=4 op.uplink_bits=4 rounds=20
                     fedsim run -m op.train_bits=4,8,16,32
  resume DIR         continue a killed `fedsim run` from its last completed round (a
                     checkpoint is written after every round, or every aggregation of
                     fedasync/fedbuff); the ledger comes out as an uninterrupted run's,
                     e.g. fedsim resume outputs/2026-01-31/12-00-00
  optimize [overrides]  Pareto front of (energy, rounds) over (I, K, m, n) by NBI, and the
                     Nash bargaining / SUM / E_min / T_min picks: pareto.csv, choice.json, pareto.png
  reproduce NAME     reproduce a paper scenario: report.md, report.json and figures, e.g.
                     fedsim reproduce kim2023_green_qfl dataset.path=/data/mnist
  run-app (DIR | SERVER CLIENT) [overrides] [--run-config 'k=v ...'] [--output DIR]
                     run any Flower app in the wireless world: DIR is a Flower app directory
                     (pyproject.toml with [tool.flwr.app.components]; [tool.flwr.app.config]
                     is its run config), or SERVER and CLIENT are MODULE:OBJECT paths to its
                     ServerApp and ClientApp; `fedsim run-app --help` for more, e.g.
                     fedsim run-app ./my-app world.num_devices=10 --run-config 'num-server-rounds=5'
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

CONFIG_REFERENCE = "docs/reference/configuration.md"  # the page "Configuration reference" of the docs

# What `fedsim run --help` / `fedsim optimize --help` say: the command, then its config groups and
# main keys (the defaults are read from the config, so the text cannot drift from it).
_COMMAND_TEXT = {
    "fedsim run": (
        "usage: fedsim run [--overwrite] [-m] [GROUP=OPTION ...] [KEY=VALUE ...]",
        "Run one federated experiment and write its ledger (config.yaml, rounds.csv, devices.csv,\n"
        "summary.json, model.pt) into hydra.run.dir (default outputs/DATE/TIME). With -m, a sweep:\n"
        "KEY=a,b,c runs one job per value into multirun/DATE/TIME/N. A directory that already holds\n"
        "a run is refused unless --overwrite.\n"
        "  e.g. fedsim run rounds=5 world.num_devices=10 op.devices_per_round=4\n"
        "       fedsim run -m op.train_bits=4,8,16 rounds=5",
    ),
    "fedsim optimize": (
        "usage: fedsim optimize [GROUP=OPTION ...] [KEY=VALUE ...]",
        "The Pareto front of (energy, rounds) over (I, K, m, n) of the analytic Green-QFL model, and\n"
        "its Nash bargaining / SUM / E_min / T_min picks: pareto.csv, choice.json and pareto.png in\n"
        "hydra.run.dir (default outputs/DATE/TIME).\n"
        "  e.g. fedsim optimize scenario=kim2023_green_qfl optimizer.n_points=30",
    ),
    "fedsim reproduce": (
        "usage: fedsim reproduce NAME [GROUP=OPTION ...] [KEY=VALUE ...]",
        "Reproduce a paper scenario (NAME: a scenario below): report.md, report.json and figures in\n"
        "hydra.run.dir (default outputs/DATE/TIME): the paper's constants re-verified, and its claims\n"
        "reproduced, a gap (with both numbers and why) or not checked.\n"
        "  e.g. fedsim reproduce kim2022_tradeoff",
    ),
}
_MAIN_KEYS = {
    "fedsim run": (
        ("seed", "the run's seed (the same seed gives the same ledger)"),
        ("rounds", "server rounds"),
        ("target_accuracy", "summary.json's rounds/energy/time to this test accuracy"),
        ("op.train_bits", "n: training precision [bits]"),
        ("op.uplink_bits", "m: uplink precision [bits]"),
        ("op.local_iters", "I: local iterations per round"),
        ("op.devices_per_round", "K: devices selected per round"),
        ("world.num_devices", "devices in the world"),
        ("world.area_side_m", "side of the square the devices are dropped in [m]"),
        ("world.deadline_s", "round deadline [s]; a later upload is dropped (null: none)"),
        ("train.lr", "local learning rate"),
        ("train.batch_size", "local batch size"),
        ("engine", "inprocess | cohort (the stacked cohort engine)"),
    ),
    "fedsim optimize": (
        ("world.num_devices", "devices in the world (K's upper bound)"),
        ("optimizer.n_points", "NBI points on the front"),
        ("optimizer.max_local_iters", "I's upper bound"),
        ("optimizer.max_bits", "m's and n's upper bound [bits]"),
        ("optimizer.disagreement", "Nash bargaining's disagreement point: paper | pseudo_nadir | baseline | budgets"),
        ("optimizer.exhaustive", "also search every integer design (the cross-check)"),
        ("theory.epsilon", "the target optimality gap of the convergence bound"),
    ),
    "fedsim reproduce": (
        ("seed", "the seed of every run of the reproduction"),
        ("rounds", "server rounds of its runs (the scenario sets its own)"),
    ),
}


def command_help(prog: str) -> str:
    """``PROG --help``: usage, the config groups with their options (default first, in brackets),
    the main keys with their defaults, and where every key is documented."""
    import textwrap

    from analysis import flatten_config

    from ._compose import _group_options, default_group_options
    from .config import RunConfig

    usage, about = _COMMAND_TEXT.get(prog, _COMMAND_TEXT["fedsim run"])
    chosen = default_group_options()
    lines = [usage, "", about, "", "config groups (GROUP=OPTION; the default in brackets):"]
    for group, options in sorted(_group_options().items()):
        default = chosen.get(group, "null")
        head = f"  {group:<13}[{'none' if default in ('null', 'None') else default}] "
        lines += textwrap.wrap(", ".join(options), 100, initial_indent=head, subsequent_indent=" " * len(head), break_on_hyphens=False)
    defaults = flatten_config(RunConfig.from_mapping({}).to_dict())
    lines += ["", "main keys (KEY=VALUE; the default in brackets):"]
    for key, text in _MAIN_KEYS.get(prog, _MAIN_KEYS["fedsim run"]):
        value = defaults[key]
        lines.append(f"  {key:<27}[{'null' if value is None else value}] {text}")
    lines += [
        "",
        "A scenario (scenario=NAME, a file of scenarios/) sets many keys at once.",
        "Every key, with its default, unit and allowed values: the docs page \"Configuration reference\"",
        f"({CONFIG_REFERENCE} in the repository). `{prog} --cfg job` prints the composed",
        "config; Hydra's own help: --hydra-help.",
    ]
    return "\n".join(lines)


def hydra_command(task: Callable, args: Sequence[str], prog: str) -> int:
    """Run ``task(cfg)`` under Hydra with ``args`` as its command line."""
    import hydra

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from .errors import ConfigError, os_error_line

    args = translate_retired(args)
    overrides = [a for a in args if not a.startswith("-")]
    if any(a in ("-h", "--help") for a in args):  # fedsim's own usage (Hydra's: --hydra-help)
        print(command_help(prog))
        return 0
    try:
        _check_options(args, prog)
        OverridesParser.create().parse_overrides(overrides)  # Hydra's grammar, before anything else
        if "-m" in args or "--multirun" in args:
            check_sweep(overrides)
        else:
            check_group_choices(overrides)
    except ConfigError as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (HydraException, OmegaConfBaseException) as error:  # an override Hydra cannot parse or compose
        print(f"fedsim: error: {hydra_error_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    listing = any(a in ("-h", "--help", "--hydra-help", "-i", "--info") or a.startswith("--info=") for a in args)
    register_scenarios(None if listing else chosen_scenarios(overrides))
    main = hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")(task)
    saved, saved_full_error = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = [prog, *args]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra's errors reach us (its own report spans lines)
    try:
        with _composed_once(overrides):
            main()
    except (HydraException, OmegaConfBaseException) as error:  # composing the overrides failed: nothing ran
        print(f"fedsim: error: {hydra_error_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OSError, ValueError) as error:  # Hydra's own output directory or log file could not be written
        cause = error if isinstance(error, OSError) else error.__cause__  # logging: "Unable to configure handler 'file'"
        if not isinstance(cause, OSError) or isinstance(cause, BrokenPipeError):  # a closed stdout: main's to handle
            raise
        print(f"fedsim: error: {os_error_line(cause)}", file=sys.stderr)
        return 1
    finally:
        sys.argv = saved
        if saved_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_full_error
    return 0


@contextlib.contextmanager
def _composed_once(overrides: Sequence[str]) -> Iterator[None]:
    """Hydra composes the whole config twice per command, the first time only to read
    ``hydra.mode``, which fedsim's configs never set (then it answers None and the command line
    decides: -m or not). That first composition is skipped unless an override sets the mode:
    it cost a third of the start-up before the run."""
    from hydra._internal.hydra import Hydra

    if any(o.lstrip("+~").startswith("hydra.mode") for o in overrides) or not hasattr(Hydra, "get_mode"):
        yield
        return
    original = Hydra.get_mode
    Hydra.get_mode = lambda self, config_name, overrides: None
    try:
        yield
    finally:
        Hydra.get_mode = original


# Hydra's own options that fedsim's commands pass on (with the number of values each takes);
# --config-path/--config-name would replace fedsim's config, --experimental-rerun unpickles a file.
_HYDRA_OPTIONS = {"-m": 0, "--multirun": 0, "-h": 0, "--help": 0, "--hydra-help": 0, "--version": 0, "-c": 1, "--cfg": 1,
                  "--resolve": 0, "-p": 1, "--package": 1, "-i": 1, "--info": 1, "-cd": 1, "--config-dir": 1}


def _check_options(args: Sequence[str], prog: str) -> None:
    """Refuse, in one line, an option Hydra would answer with its usage text (or that fedsim does
    not pass on), and an empty output directory (Hydra would write the run into the current one)."""
    from .errors import ConfigError

    allowed = ", ".join((["--overwrite"] if prog == "fedsim run" else []) + list(_HYDRA_OPTIONS))
    skip = 0
    for arg in args:
        if skip:
            skip -= 1
            continue
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            if name not in _HYDRA_OPTIONS:
                hint = {"fedsim run": " (--overwrite takes no value)"}.get(prog, f" (--overwrite is fedsim run's, not {prog}'s)")
                raise ConfigError("option", arg, f"one of {allowed}" + (hint if name == "--overwrite" else ""))
            skip = 0 if "=" in arg else _HYDRA_OPTIONS[name]
            continue
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") in ("hydra.run.dir", "hydra.sweep.dir") and value.strip() in ("", "null", "''", '""'):
            raise ConfigError(key.lstrip("+~"), value, "a directory for the run's files (empty would write them into the current directory)")


def _task(job: Callable) -> Callable:
    """A Hydra task: validate the composed config, run ``job(config, output_dir)``, report errors
    in one line with exit status 2."""

    def task(cfg) -> object:
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        from .config import RunConfig
        from .errors import ClientAppError, ConfigError, DataError, ModelDivergedError, NothingAggregatedError

        output_dir = Path(HydraConfig.get().runtime.output_dir)
        try:
            try:
                mapping = OmegaConf.to_container(cfg, resolve=True)
            except OmegaConfBaseException as error:  # an interpolation ${...} that does not resolve
                key, raw = getattr(error, "full_key", None) or "override", OmegaConf.to_container(cfg, resolve=False)
                for part in key.split("."):
                    raw = raw.get(part) if isinstance(raw, dict) else None
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ConfigError(key, raw, f"a value, or an interpolation ${{KEY}} of a key the config has ({reason})") from None
            config = RunConfig.from_mapping(mapping)
            return job(config, output_dir)
        except (ConfigError, DataError) as error:
            print(f"fedsim: error: {error}", file=sys.stderr)
            _discard_hydra_record(output_dir)
            sys.exit(EXIT_BAD_INPUT)
        except (ClientAppError, ModelDivergedError, NothingAggregatedError) as error:  # the run failed, not the input
            print(f"fedsim: error: {error}", file=sys.stderr)
            sys.exit(1)
        except BrokenPipeError:  # stdout's reader left (`| head`): not the run's failure
            raise
        except OSError as error:  # a full disk, a read-only folder: what was written stays resumable
            print(f"fedsim: error: {_stopped_line(error, output_dir)}", file=sys.stderr)
            _discard_hydra_record(output_dir)
            sys.exit(1)

    task.__name__ = job.__name__  # Hydra names the job (and its log file) after the task
    return task


def _stopped_line(error: OSError, run_dir: Path) -> str:
    """A run stopped by the file system (``ENOSPC``, ``EACCES``), and how to continue it once fixed."""
    from .errors import os_error_line
    from .federation._checkpoint import CHECKPOINT_FILE

    line = os_error_line(error)
    if (run_dir / CHECKPOINT_FILE).is_file():
        line += f"; the run stopped: once fixed, fedsim resume {run_dir} continues it from its last checkpoint"
    return line


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
        refused = _refused_run_dir(args)
        if refused is not None:
            print(f"fedsim: error: {refused}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return hydra_command(_task(_run), args, "fedsim run")
    finally:
        os.environ.pop(OVERWRITE_ENV, None)


def _refused_run_dir(args: Sequence[str]):
    """The refusal of a single run into a ``hydra.run.dir`` that already holds a run, made before
    Hydra starts: Hydra would rewrite that run's ``.hydra/`` record (its overrides) first."""
    import os

    from ._run_lock import RUN_DIR_HOLDS_A_RUN, check_not_held, holds_a_run
    from .errors import ConfigError

    if "-m" in args or "--multirun" in args:
        return None
    given = [a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir=")]
    if not given or not given[-1].strip():
        return None
    directory = Path(given[-1]).expanduser()
    try:
        check_not_held(directory)  # a live writer is named first: it is why the directory is busy
    except ConfigError as error:
        return error
    if holds_a_run(directory) and os.environ.get(OVERWRITE_ENV) != "1":
        return ConfigError("run_dir", given[-1], RUN_DIR_HOLDS_A_RUN)
    return None


def _resume(args: Sequence[str]) -> int:
    if args and args[0] in ("-h", "--help"):
        print("usage: fedsim resume DIR")
        return 0
    if len(args) != 1 or args[0].startswith("-") or not args[0].strip():
        print(f"fedsim: error: arguments={list(args)!r} are not allowed: one run directory (usage: fedsim resume DIR)", file=sys.stderr)
        return EXIT_BAD_INPUT
    from ._run import resume
    from .errors import ClientAppError, ConfigError, DataError, ModelDivergedError, NothingAggregatedError

    try:
        result = resume(Path(args[0]), progress=True)
    except (ConfigError, DataError) as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ClientAppError, ModelDivergedError, NothingAggregatedError) as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk, a read-only folder: the checkpoint still holds the last round
        print(f"fedsim: error: {_stopped_line(error, Path(args[0]))}", file=sys.stderr)
        return 1
    _report(result)
    return 0


def _optimize(config, output_dir: Path) -> None:
    from analysis import summary_table

    from ._run import write_config
    from .controller import disagreement_explanation, study, write_study

    write_config(config, output_dir)
    result = study(config)
    written = write_study(result, output_dir)
    rows = [{"point": name, **row} for name, row in result.choices.items()]
    for row in rows:
        row["energy_j"], row["rounds"] = f"{row['energy_j']:.4g}", f"{row['rounds']:.1f}"
    print(f"n_min = {result.problem.n_min}; {len(result.front.F)} Pareto points ({result.front.time_s:.2f} s)")
    print(summary_table(rows, ["point", "I", "K", "m", "n", "energy_j", "rounds"]))
    print(f"disagreement point: {disagreement_explanation(result)['explanation']}")
    for path in written:
        print(path)


def _reproduce(config, output_dir: Path) -> None:
    from .reproduce import reproduce

    report = reproduce(config, output_dir, progress=True)
    def measured(check) -> object:
        return f"{check.measured:.4g}" if isinstance(check.measured, float) else check.measured

    for check in report.constants:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: paper {check.paper}, fedsim {measured(check)}")
    for check in report.claims:
        reason = f" ({check.gap_reason})" if check.status == "gap" else ""
        print(f"{check.status.upper().replace('_', ' ')}  {check.name}: paper {check.paper}, fedsim {measured(check)}{reason}")
    counts = report.claim_counts()
    print(f"constants: {sum(c.passed for c in report.constants)} of {len(report.constants)} hold; claims: "
          + ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items()))
    print(f"report: {output_dir / 'report.md'}")
    if not report.constants_passed:
        sys.exit(1)  # the reproduction's footing is wrong (the report is written); a claim's gap is a finding, not a failure


def _reproduce_command(args: Sequence[str]) -> int:
    names = ", ".join(n for n in scenario_names())
    if args and args[0] in ("-h", "--help"):
        print(f"usage: fedsim reproduce NAME [overrides]   (NAME: {names})")
        return 0
    if not args or "=" in args[0] or args[0].startswith("-") or not args[0].strip():
        print(f"fedsim: error: scenario={args[0] if args else None!r} is not allowed: a scenario NAME first, one of {names} "
              "(usage: fedsim reproduce NAME [overrides])", file=sys.stderr)
        return EXIT_BAD_INPUT
    return hydra_command(_task(_reproduce), [f"scenario={args[0]}", *args[1:]], "fedsim reproduce")


def _flwr_run_command(args: Sequence[str]) -> int:
    from ._flwr_run import flwr_run

    return flwr_run(args)


def _plot(args: Sequence[str]) -> int:
    if args and args[0] in ("-h", "--help"):
        print("usage: fedsim plot DIR [RUN_DIR ...]")
        return 0
    if not args or any(a.startswith("-") or not a.strip() for a in args):
        print(f"fedsim: error: arguments={list(args)!r} are not allowed: run or sweep directories (usage: fedsim plot DIR [RUN_DIR ...])",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    from analysis import LedgerError, plot_paths

    from .errors import os_error_line

    try:
        written = plot_paths([Path(a) for a in args])
    except (FileNotFoundError, LedgerError) as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:  # the figures could not be written (a read-only folder, a full disk)
        print(f"fedsim: error: {os_error_line(error)}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    table = next((p for p in written if p.name == "comparison.csv"), None)
    if table is not None:  # several runs: what each legend label stands for
        import csv

        from analysis import summary_table

        with open(table, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            print(summary_table(list(reader), list(reader.fieldnames or [])))
    return 0


def _load_object(path: str, key: str, kind: type) -> object:
    """``MODULE:OBJECT`` imported from the current directory, checked to be a ``kind``. Whatever
    importing the app raises (a missing module, a syntax error, an exception at import) is a
    one-line ``ConfigError``."""
    import importlib

    from .errors import ConfigError

    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise ConfigError(key, path, f"MODULE:OBJECT naming a {kind.__name__}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the user's app lives next to where the command runs
    try:
        obj = getattr(importlib.import_module(module), name)
    except Exception as error:  # noqa: BLE001 - the app's own code ran: any error is the app's
        text = str(error).strip().splitlines()
        raise ConfigError(key, path, f"an importable MODULE:OBJECT ({type(error).__name__}: {text[0] if text else ''})") from None
    if not isinstance(obj, kind):
        raise ConfigError(key, path, f"a {kind.__module__}.{kind.__name__}, not a {type(obj).__name__}")
    return obj


RUN_APP_USAGE = """usage: fedsim run-app (DIR | MODULE:SERVER_APP MODULE:CLIENT_APP) [overrides]
                      [--run-config 'KEY=VALUE ...'] [--output DIR]

Run a Flower app (ServerApp + ClientApp) unchanged in the wireless world; every message is priced
(seconds, joules, drops) into rounds.csv, devices.csv and summary.json.

  DIR                 a Flower app directory: pyproject.toml with [tool.flwr.app.components]
                      (serverapp, clientapp); [tool.flwr.app.config] is the run config
  MODULE:OBJECT       the ServerApp and ClientApp, imported from the current directory
  overrides           fedsim's Hydra key=value (world.num_devices=10, radio.*, devices.*, seed, ...)
  --run-config, -c    the app's run config, as flwr run --run-config: 'num-server-rounds=2
                      lr=0.05 name="x"' (TOML values; repeatable; or one .toml file)
  --output DIR        the ledger's directory (default outputs/DATE/run-app-TIME)

The MACs per example are counted in the ClientApp's first train call (torch) unless
devices.energy.macs=N is given; the downlink is priced at radio.downlink_power_w=20 and
devices.rx_power_w=0.05 unless given.
"""


def _run_app_args(args: Sequence[str]) -> tuple[list[str], list[str], list[str], str | None]:
    """(positionals, fedsim overrides, --run-config values, --output) of ``fedsim run-app``."""
    from .errors import ConfigError

    positional, overrides, run_config, output = [], [], [], None
    options = {"--output": "output", "--run-config": "run_config", "-c": "run_config"}
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        name, eq, value = arg.partition("=")
        if arg.startswith("-") and name in options:
            if not eq:
                if i + 1 >= len(items):
                    raise ConfigError(name, None, "a value after it" + (" (a directory)" if name == "--output" else " ('KEY=VALUE ...')"))
                i, value = i + 1, items[i + 1]
            if options[name] == "output":
                if not value:
                    raise ConfigError("--output", value, "a directory")
                output = value
            else:
                run_config.append(value)
        elif arg.startswith("-"):
            raise ConfigError("option", arg, "one of --output, --run-config (-c), --help")
        elif eq:
            overrides.append(arg)
        else:
            positional.append(arg)
        i += 1
    return positional, overrides, run_config, output


def _run_app(args: Sequence[str]) -> int:
    import os

    from .errors import ClientAppError, ConfigError, DataError

    if any(a in ("-h", "--help") for a in args):
        print(RUN_APP_USAGE)
        return 0
    from ._run_app import ServerAppError, app_run_config, flower_app_dir

    cwd, added = os.getcwd(), None
    try:
        positional, overrides, run_config_args, output = _run_app_args(args)

        if len(positional) == 1 and Path(positional[0]).is_dir():
            app_dir = flower_app_dir(positional[0])
            server_path, client_path, name, directory = app_dir.server_app, app_dir.client_app, app_dir.name, app_dir.directory
            run_config = app_run_config(run_config_args, app_dir.run_config)
        elif len(positional) == 2:
            server_path, client_path = positional
            name, directory = server_path.partition(":")[0].split(".")[0], None
            run_config = app_run_config(run_config_args)
        elif len(positional) == 1:
            raise ConfigError("app", positional[0], "a Flower app directory, or MODULE:SERVER_APP MODULE:CLIENT_APP")
        else:
            raise ConfigError("app", " ".join(positional) or None, "a Flower app directory, or MODULE:SERVER_APP MODULE:CLIENT_APP (see fedsim run-app --help)")
        check_group_choices(overrides)
        from ._compose import compose
        from ._run_app import _run_flower_app, app_config, with_app_defaults

        given = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
        config = app_config(lambda k: compose(overrides if k is None else [*overrides, f"op.devices_per_round={k}"]), given)
        config = with_app_defaults(config, given)
        if output is None:
            import time

            output = str(Path("outputs") / time.strftime("%Y-%m-%d") / f"run-app-{time.strftime('%H-%M-%S')}")
        output = str(Path(output).resolve())  # relative to where the command runs, not the app
        from flwr.clientapp import ClientApp
        from flwr.serverapp import ServerApp

        if directory is not None:  # the app runs from its own directory, as it would under flwr run .
            os.chdir(directory)
            added = str(directory)
            sys.path.insert(0, added)
        server_app = _load_object(server_path, "server_app", ServerApp)
        client_app = _load_object(client_path, "client_app", ClientApp)
        from .federation._wireless import quiet_flower_log

        with quiet_flower_log():  # the ledger replaces Flower's round log; a failure is one line
            result = _run_flower_app(
                server_app, client_app, config, output, run_config=run_config, model=None, input_shape=None,
                local_epochs=None, app={"name": name, "server_app": server_path, "client_app": client_path},
            )
    except (ConfigError, DataError) as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ClientAppError, ServerAppError) as error:  # the run failed, not the input
        print(f"fedsim: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the ledger could not be written (a read-only folder, a full disk)
        from .errors import os_error_line

        print(f"fedsim: error: {os_error_line(error)}", file=sys.stderr)
        return 1
    finally:
        os.chdir(cwd)
        if added is not None and added in sys.path:
            sys.path.remove(added)
    s = result.summary
    print(f"{s['rounds']} server rounds: final accuracy {s['final_accuracy']}, energy {s['total_energy_j']:.4g} J, "
          f"simulated {s['sim_time_s']:.4g} s")
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
    """The ``fedsim`` command; its exit status. A reader that stops early (``fedsim --help | head
    -1``) ends the output quietly, exit status 0: what it read was written whole."""
    try:
        status = _main(argv)
        sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe prints a traceback
        return status
    except BrokenPipeError:
        # Python's recipe: point stdout at /dev/null so the final flush at exit finds no pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"fedsim: error: command={args[0]!r} is not allowed: one of {', '.join(COMMANDS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args[0] in _FEDERATING:
        with collector_paused():  # until the rounds freeze the start-up's heap (fedsim._gc)
            return command(args[1:])
    return command(args[1:])


# Commands whose start-up (imports, composition, data) builds the heap their rounds keep
_FEDERATING = ("run", "resume", "run-app")


if __name__ == "__main__":
    sys.exit(main())
