"""One writer per run directory: a second writer is refused in one line naming the holder, a
directory that holds a run is not written again unless asked, and a dead writer's lock is taken
over. The processes these tests start are waited for (and killed on failure) by PID."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import fedsim
from fedsim._run_lock import LOCK_FILE
from fedsim.cli import main

SMALL = ["rounds=12", "world.num_devices=6", "op.devices_per_round=3", "model.hidden=[16]"]
LONG = ["rounds=150", *SMALL[1:]]  # long enough to still be writing while a second process starts


def _fedsim(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fedsim", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # four fedsim processes, ~25 s
def test_a_second_writer_is_refused_and_the_first_ledger_is_a_lone_runs(tmp_path):
    lone, shared = tmp_path / "lone", tmp_path / "shared"
    assert _fedsim("run", *LONG, f"hydra.run.dir={lone}", cwd=tmp_path).wait(timeout=300) == 0
    first = _fedsim("run", *LONG, f"hydra.run.dir={shared}", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (shared / "rounds.csv").is_file():  # the first run is writing its ledger
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        for command in (["run", *LONG, f"hydra.run.dir={shared}"], ["resume", str(shared)]):
            second = _fedsim(*command, cwd=tmp_path)
            _, err = second.communicate(timeout=300)
            lines = err.strip().splitlines()
            assert second.returncode == 2 and len(lines) == 1, err
            assert lines[0].startswith("fedsim: error: run_dir=") and f"PID {first.pid} holds it" in lines[0], lines
        assert first.poll() is None, "the first run ended before the second tried: the test proved nothing"
        assert first.wait(timeout=300) == 0, first.communicate()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    for name in ("rounds.csv", "devices.csv"):
        assert (shared / name).read_bytes() == (lone / name).read_bytes()


def test_a_run_into_a_directory_with_a_run_is_refused_unless_overwrite(tmp_path, capfd):
    out = tmp_path / "run"
    assert main(["run", "rounds=1", *SMALL[1:], f"hydra.run.dir={out}"]) == 0
    before = {p.name: p.read_bytes() for p in [*out.iterdir(), *(out / ".hydra").iterdir()] if p.is_file()}
    capfd.readouterr()
    assert main(["run", "rounds=2", *SMALL[1:], f"hydra.run.dir={out}"]) == 2  # refused before Hydra starts
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run_dir=" in err[0] and "--overwrite replaces it" in err[0], err
    # Untouched, Hydra's record of the old run's overrides included.
    assert {p.name: p.read_bytes() for p in [*out.iterdir(), *(out / ".hydra").iterdir()] if p.is_file()} == before
    assert main(["run", "--overwrite", "rounds=2", *SMALL[1:], f"hydra.run.dir={out}"]) == 0
    assert fedsim.RunConfig.from_mapping(__import__("yaml").safe_load((out / "config.yaml").read_text())).rounds == 2
    with pytest.raises(fedsim.ConfigError, match="holds no run yet"):
        fedsim.run({"rounds": 1}, out)  # the Python API keeps the same rule (overwrite=True replaces)


def test_a_dead_writers_lock_is_taken_over(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_FILE).write_text("999999999")  # a lock file whose writer is gone: no OS lock held
    result = fedsim.run({"rounds": 1, "world": {"num_devices": 4}, "op": {"devices_per_round": 2}}, out)
    assert result.summary["rounds"] == 1 and (out / LOCK_FILE).read_text() != "999999999"


def test_the_flower_server_app_takes_the_same_lock_and_refuses_a_directory_with_a_run(tmp_path):
    """Under `flwr run` the ServerApp writes into output-dir: one writer there too, checked
    before anything is written (the grid is never touched)."""
    from flwr.app import Context, RecordDict

    from fedsim._run_lock import run_directory_lock
    from fedsim.errors import ConfigError
    from fedsim.federation.server_app import main as server_main

    def context(out: Path) -> Context:
        run_config = {"overrides": " ".join(SMALL), "output-dir": str(out), "supernode-timeout-s": 1.0}
        return Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=run_config)

    busy = tmp_path / "busy"
    with run_directory_lock(busy):
        with pytest.raises(ConfigError, match=r"^run_dir=.* a directory no other fedsim process is writing \(PID \d+ holds it\)"):
            server_main(None, context(busy))
    assert sorted(p.name for p in busy.iterdir()) == [LOCK_FILE]
    done = tmp_path / "done"
    done.mkdir()
    (done / "summary.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"^output-dir=.* a directory that holds no run yet"):
        server_main(None, context(done))
    assert sorted(p.name for p in done.iterdir()) == [LOCK_FILE, "summary.json"]
