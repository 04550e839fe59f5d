"""``fedsim flwr-run``: ``flwr run`` that waits for the run and exits as the run ended.

``flwr run`` only submits a run to a SuperLink: it exits 0 once the run is started, and with
``--stream`` once its logs end, whatever the run's outcome (flwr 1.41, ``flwr/cli/run/run.py``
and ``flwr/cli/log.py``). This command submits the same run (the arguments are ``flwr run``'s),
streams its logs with ``flwr log``, reads its final status with ``flwr ls`` and exits 1 with the
failure's one line (fedsim's error message) when the run did not complete.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

COMPLETED = "finished:completed"
_EXCEPTION_PREFIX = "exception: "  # Flower's status details: "<App> failed with exception: <message>"


def _flwr() -> str:
    """flwr's CLI of this environment (next to its interpreter), else the one on PATH."""
    beside = Path(sys.executable).with_name("flwr")
    return str(beside) if beside.is_file() else shutil.which("flwr") or "flwr"


def _parser() -> argparse.ArgumentParser:
    """The part of ``flwr run``'s command line this command needs: the SuperLink connection."""
    parser = argparse.ArgumentParser(prog="fedsim flwr-run", add_help=False)
    parser.add_argument("app", nargs="?", default=".")
    parser.add_argument("superlink", nargs="?")
    for option in ("--run-config", "-c", "--federation-config", "--federation", "--format"):
        parser.add_argument(option, action="append")
    parser.add_argument("--stream", action="store_true")
    return parser


def _json_of(text: str) -> dict:
    start = text.find("{")
    return json.loads(text[start:]) if start >= 0 else {}


def failure_line(details: str) -> str:
    """The message of a failed run's status details (the exception Flower reports)."""
    _, sep, message = details.partition(_EXCEPTION_PREFIX)
    return (message if sep else details).strip().splitlines()[0] if details.strip() else "the run did not complete"


def flwr_run(args: Sequence[str]) -> int:
    """Run ``flwr run ARGS``, stream the run's logs, and return 0 if it completed, else 1."""
    known, _ = _parser().parse_known_args(list(args))
    if known.format:
        print("fedsim: error: --format is not allowed: fedsim flwr-run reads flwr's JSON output itself", file=sys.stderr)
        return 2
    connection = [known.superlink] if known.superlink else []
    submit_args = [a for a in args if a != "--stream"]  # the logs are streamed by `flwr log`
    flwr = _flwr()
    submitted = subprocess.run([flwr, "run", *submit_args, "--format", "json"], capture_output=True, text=True)
    started = _json_of(submitted.stdout)
    if submitted.returncode != 0 or not started.get("success"):
        reason = started.get("error") or (submitted.stderr or submitted.stdout).strip().splitlines()[-1:] or ["flwr run failed"]
        print(f"fedsim: error: {reason if isinstance(reason, str) else reason[0]}", file=sys.stderr)
        return 1
    run_id = started["run-id"]
    print(f"fedsim: run {run_id} started", flush=True)
    subprocess.run([flwr, "log", run_id, *connection, "--stream"], check=False)
    listed = subprocess.run([flwr, "ls", *connection, "--run-id", run_id, "--format", "json"], capture_output=True, text=True)
    runs = _json_of(listed.stdout).get("runs", [])
    status = runs[0].get("status", "") if runs else ""
    if status != COMPLETED:
        details = runs[0].get("status-details", "") if runs else listed.stderr
        print(f"fedsim: error: run {run_id} {status or 'unknown'}: {failure_line(details)}", file=sys.stderr)
        return 1
    return 0
