"""Execute one page's blocks in order (run by docs_harness.run_text in the page's directory).

    python docs_runner.py PLAN.json LOG_DIR

PLAN.json lists the blocks (page, line, lang, source, exit). Python blocks share one namespace
and are compiled with the page's own line numbers, so a traceback names the page and the line;
bash blocks run under ``bash -euo pipefail``. Each block's stdout and stderr go to
LOG_DIR/block-I.log; LOG_DIR/current.json names the block running, LOG_DIR/result.json the
outcome: {"ok": true} or the first block whose status was not the expected one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path


def run_python(block: dict, namespace: dict, log: Path) -> int:
    code = compile("\n" * block["line"] + block["source"], block["page"], "exec")  # line numbers of the page
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "wb") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            exec(code, namespace)  # noqa: S102 - executing the docs' examples is the point
            status = 0
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:  # noqa: BLE001 - reported through the block's log and status
            traceback.print_exc()
            status = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    return status


def run_bash(block: dict, log: Path) -> int:
    with open(log, "wb") as handle:
        return subprocess.run(["bash", "-euo", "pipefail", "-c", block["source"]], stdout=handle, stderr=subprocess.STDOUT).returncode


def main(plan_path: str, log_dir: str) -> int:
    blocks = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    logs = Path(log_dir)
    sys.path.insert(0, os.getcwd())  # modules an earlier block wrote import from the page's directory
    namespace: dict = {"__name__": "__main__"}
    for index, block in enumerate(blocks):
        (logs / "current.json").write_text(json.dumps({"index": index}))
        log = logs / f"block-{index}.log"
        status = run_python(block, namespace, log) if block["lang"] == "python" else run_bash(block, log)
        if status != block["exit"]:
            (logs / "result.json").write_text(json.dumps({"index": index, "status": status}))
            return 1
    (logs / "result.json").write_text(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
