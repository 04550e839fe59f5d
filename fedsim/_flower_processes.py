"""Flower's runtime processes on this machine (SuperLink, SuperNodes, and what they start: SuperExec,
the simulation and its Ray cluster, ClientApp processes), for the tests and benchmarks that run
fedsim under ``flwr run``: free loopback ports, a private ``FLWR_HOME``, and ``stop()`` ends each
process it started, with all its descendants, by PID. Nothing is left running in ``~/.flwr``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent  # flwr's commands, next to this interpreter
ROOT = Path(__file__).resolve().parents[1]  # the project root: the Flower app `flwr run .` builds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    """Parent PID -> child PIDs, from /proc."""
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class FlowerProcesses:
    """The Flower processes started here; ``stop()`` ends them and their descendants by PID. As a
    context manager it stops them on exit and raises if any survived."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "FLWR_HOME": str(home), "FLWR_DISABLE_UPDATE_CHECK": "1"}
        # A SuperLink starts Flower's other executables (flower-superexec) by name: they must be
        # found beside this interpreter's even when its virtualenv is not activated.
        self.env["PATH"] = f"{BIN}{os.pathsep}{self.env.get('PATH', '')}"
        # The simulation's ray.init() would join the last `ray start` cluster of this machine
        # (/tmp/ray/ray_current_cluster), and hang if it is gone: a cluster of its own instead.
        self.env.setdefault("RAY_ADDRESS", "local")
        self.started: list[subprocess.Popen] = []

    def start(self, command: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.home / f"{log_name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen([str(BIN / command[0]), *command[1:]], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.home)
        self.started.append(process)
        return process

    def flwr(self, *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "flwr"), *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)

    def fedsim(self, *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fedsim", *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text()

    def __enter__(self) -> "FlowerProcesses":
        return self

    def __exit__(self, *exc_info: object) -> None:
        left = self.stop()
        if left:
            raise RuntimeError(f"Flower processes still running after stop: {left}")

    def stop(self) -> list[int]:
        """SIGTERM every started process and its descendants, SIGKILL what is left; return the
        PIDs still alive afterwards (none, normally)."""
        pids = []
        for process in self.started:
            pids += [process.pid, *descendants(process.pid)]
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.2)
        for pid in pids:
            if _alive(pid):
                _signal(pid, signal.SIGKILL)
        for process in self.started:
            process.wait(timeout=10)
        time.sleep(0.5)
        return [p for p in pids if _alive(p)]


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_until_healthy(port: int, ca_certificate: Path | None = None, timeout_s: float = 60) -> None:
    """Wait for a SuperLink's /health on loopback (over TLS, verified by ``ca_certificate``)."""
    import ssl

    scheme = "https" if ca_certificate else "http"
    verify = ssl.create_default_context(cafile=str(ca_certificate)) if ca_certificate else False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{scheme}://127.0.0.1:{port}/health", timeout=0.5, verify=verify).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"no SuperLink on port {port} after {timeout_s} s")



def start_simulation_superlink(flower: FlowerProcesses) -> int:
    """The local simulation SuperLink that ``flwr run`` would start itself (same flags), started
    here on free ports so its PID is known; ``flwr run .`` (connection ``local``) finds and uses it.
    Returns its HTTP port."""
    http_port, control_port = free_port(), free_port()
    flower.env["FLWR_LOCAL_SUPERLINK_HTTP_API_PORT"] = str(http_port)  # read by flwr's CLI
    flower.env["FLWR_LOCAL_CONTROL_API_PORT"] = str(control_port)
    flower.start(
        ["flower-superlink", "--insecure", "--simulation", "--isolation", "subprocess",
         "--control-api-address", f"127.0.0.1:{control_port}", "--host", "127.0.0.1", "--port", str(http_port)],
        "superlink",
    )
    wait_until_healthy(http_port)
    return http_port
