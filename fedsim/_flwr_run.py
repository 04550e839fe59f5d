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
    parser = argparse.ArgumentParser(prog="fedsim flwr-run", add_help=False, exit_on_error=False)
    parser.add_argument("app", nargs="?", default=".")
    parser.add_argument("superlink", nargs="?")
    for option in ("--run-config", "-c", "--federation-config", "--federation", "--format"):
        parser.add_argument(option, action="append")
    parser.add_argument("--stream", action="store_true")
    return parser


def _json_of(text: str) -> dict:
    """The JSON object flwr printed (after any notes of its own); {} if there is none."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start >= 0:
        try:
            value, _ = decoder.raw_decode(text, start)
            return value if isinstance(value, dict) else {}
        except ValueError:
            start = text.find("{", start + 1)
    return {}


_BOX = "╭╮╰╯│─┌┐└┘├┤┬┴┼═║ "  # the frame rich draws around flwr's errors


def submit_error(started: dict, output: str) -> str:
    """Why ``flwr run`` did not start the run, in one line: its JSON's ``error-message`` (flwr 1.41;
    ``error`` before), else the last line of its own text with rich's frame around it removed."""
    message = started.get("error-message", started.get("error"))
    text = message if isinstance(message, str) and message.strip() else output
    lines = [line.strip(_BOX) for line in text.splitlines()]
    lines = [line for line in lines if line and line not in ("Error",) and not line.startswith("Error ")]
    return lines[-1] if lines else "flwr run failed"


def failure_line(details: str) -> str:
    """The message of a failed run's status details (the exception Flower reports)."""
    _, sep, message = details.partition(_EXCEPTION_PREFIX)
    return (message if sep else details).strip().splitlines()[0] if details.strip() else "the run did not complete"


def flwr_run(args: Sequence[str]) -> int:
    """Run ``flwr run ARGS``, stream the run's logs, and return 0 if it completed, else 1."""
    try:
        known, _ = _parser().parse_known_args(list(args))
    except argparse.ArgumentError as error:
        print(f"fedsim: error: {error}", file=sys.stderr)
        return 2
    if known.format:
        print("fedsim: error: --format is not allowed: fedsim flwr-run reads flwr's JSON output itself", file=sys.stderr)
        return 2
    connection = [known.superlink] if known.superlink else []
    submit_args = [a for a in args if a != "--stream"]  # the logs are streamed by `flwr log`
    flwr = _flwr()
    try:
        submitted = subprocess.run([flwr, "run", *submit_args, "--format", "json"], capture_output=True, text=True)
    except OSError as error:  # no flwr command here
        print(f"fedsim: error: {flwr} cannot be run ({error.strerror}): install flwr (pip install flwr)", file=sys.stderr)
        return 1
    started = _json_of(submitted.stdout)
    if submitted.returncode != 0 or not started.get("success"):
        print(f"fedsim: error: {submit_error(started, submitted.stderr or submitted.stdout)}", file=sys.stderr)
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
