"""fedsim resume of an asynchronous run (issue 30): killed at any point, it continues to the
uninterrupted run's ledger.

The server checkpoints the event world after the initial model and after every aggregation (its
heaps and clocks, jobs and uploads in flight, who is online, asleep and idle, the on/off and
motion generators, batteries), the models those jobs downloaded and their ClientApp replies, the
strategy's buffer and the selection stream. Kills are simulated in process at exact points (after
a checkpoint, between aggregations, between a row and its checkpoint, halfway through a row) and
done for real with SIGKILL; either way the resumed rounds.csv, devices.csv and summary.json (but
its wall time) are byte-identical to a run never interrupted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_resume import Killed, _ledger
from test_resume import _kill_at as kill_in_the_ledger

import fedsim
from fedsim import cli
from fedsim._atomic import drain_write_behind
from fedsim.federation import _async_server
from fedsim.federation._checkpoint import CHECKPOINT_FILE, load_checkpoint
from fedsim.ledger import DEVICES_FILE, ROUNDS_FILE
from fedsim.world._async_world import AsyncWorld

AGGREGATIONS = 6
TINY = ["rounds=6", "op.local_iters=1", "model.hidden=[8]", "devices.straggler_fraction=0.4", "devices.macs_per_s=1e7"]
CONFIGS = {
    # FedBuff through availability switches (its on/off generator), a random walk, 1 ms coherence
    # blocks, stragglers, crashes and non-finite uploads; jobs stay in flight across aggregations.
    "fedbuff": [*TINY, "strategy=fedbuff", "world.num_devices=5", "op.devices_per_round=3", "strategy.concurrency=3", "strategy.buffer_size=2",
                "availability=onoff", "availability.on_s=0.05", "availability.off_s=0.02", "mobility=random_waypoint", "radio.coherence_s=0.001",
                "faults.client_crash_prob=0.15", "faults.nonfinite_prob=0.15"],
    # FedAsync dispatching in turn (the policy's cursor) on batteries that empty and recharge.
    "fedasync": [*TINY, "strategy=fedasync", "policy=round_robin", "world.num_devices=4", "op.devices_per_round=2", "strategy.concurrency=2",
                 "devices.battery_j=1.5e-5", "devices.harvest_w=2e-4", "radio.coherence_s=0.0005"],
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, dict]:
    """Uninterrupted runs of each configuration, and their ledgers."""
    refs = {}
    for name, overrides in CONFIGS.items():
        out = tmp_path_factory.mktemp(f"reference-{name}")
        fedsim.run(fedsim.compose(overrides), out)
        refs[name] = _ledger(out)
    return refs


def die_at(set_attribute, point: str, k: int, die) -> None:
    """Make the next run call ``die()`` at ``point`` of aggregation ``k``: ``after_checkpoint``
    (aggregation k is checkpointed), ``between`` (on the second event the world serves after that
    checkpoint: jobs dispatched and trained since, the next aggregation not there yet) or
    ``before_checkpoint`` (its rows are written, its checkpoint is not). ``set_attribute`` patches
    (monkeypatch.setattr in process, setattr in a subprocess that SIGKILLs itself)."""
    save, advance, served = _async_server.save_checkpoint, AsyncWorld.advance, []

    def save_checkpoint(output_dir, checkpoint):
        if checkpoint.round == k and point == "before_checkpoint":
            die()
        path = save(output_dir, checkpoint)
        if checkpoint.round == k:
            # "Checkpointed" is on disk: a run syncs its ledger and checkpoints on a background
            # thread (fedsim._atomic.write_behind), so a kill the instant save returns would find
            # the previous one (test_a_kill_before_the_checkpoint_lands_resumes_from_the_one_before).
            drain_write_behind()
            if point == "after_checkpoint":
                die()
            served.append(0)
        return path

    def advance_then_die(self):
        if served and point == "between":
            served[0] += 1
            if served[0] == 2:
                die()
        return advance(self)

    set_attribute(_async_server, "save_checkpoint", save_checkpoint)
    set_attribute(AsyncWorld, "advance", advance_then_die)


def _raise_killed() -> None:
    raise Killed


def _kill_at(monkeypatch, point: str, k: int) -> None:
    """The next run dies (``Killed``) at ``point`` of aggregation ``k``; a torn devices.csv row and
    a death before summary.json are the synchronous tests' own kills (the ledger is the same)."""
    if point in ("torn_devices_row", "before_summary"):
        kill_in_the_ledger(monkeypatch, point, k)
    else:
        die_at(monkeypatch.setattr, point, k, _raise_killed)


@pytest.mark.parametrize(
    ("config", "point", "k"),
    [
        ("fedbuff", "after_checkpoint", 0),
        ("fedbuff", "between", 2),
        ("fedbuff", "before_checkpoint", 3),
        ("fedbuff", "torn_devices_row", 5),
        ("fedbuff", "before_summary", AGGREGATIONS),
        ("fedasync", "between", 1),
        ("fedasync", "torn_devices_row", 4),
    ],
)
def test_a_killed_async_run_resumes_to_the_uninterrupted_ledger(reference, tmp_path, monkeypatch, config, point, k):
    with monkeypatch.context() as patch:
        _kill_at(patch, point, k)
        with pytest.raises(Killed):
            fedsim.run(fedsim.compose(CONFIGS[config]), tmp_path)
    assert not (tmp_path / "summary.json").exists()
    result = fedsim.resume(tmp_path)
    assert _ledger(tmp_path) == reference[config]
    assert result.rounds[-1]["round"] == AGGREGATIONS
    assert not (tmp_path / CHECKPOINT_FILE).exists()  # a finished run keeps none


def test_the_references_hold_what_the_kills_resume_through(reference):
    """The kills above are only worth something if the state they cross is really there."""
    rows = reference["fedbuff"][DEVICES_FILE].decode().splitlines()
    header = rows[0].split(",")
    cells = [dict(zip(header, line.split(","), strict=True)) for line in rows[1:]]
    assert {"client_error", "nonfinite_update", "unavailable"} <= {c["drop_reason"] for c in cells}
    assert max(int(c["staleness"]) for c in cells) >= 2 and sum(int(c["rate_changes"]) for c in cells) >= 1
    rows = reference["fedasync"][DEVICES_FILE].decode().splitlines()
    assert any(",battery," in line for line in rows[1:])  # a battery emptied (then it slept and woke)


def test_a_checkpoint_holds_the_event_world_and_what_is_in_flight(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        _kill_at(patch, "after_checkpoint", 1)
        with pytest.raises(Killed):
            fedsim.run(fedsim.compose(CONFIGS["fedbuff"]), tmp_path)
    checkpoint = load_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert checkpoint.round == 1
    world, server = checkpoint.world, checkpoint.strategy
    assert world["now_s"] > 0 and world["jobs"] and world["queue"] and world["switches"]
    assert world["onoff"]["rng"]["bit_generator"] == "PCG64" and world["world"]["motion"]["walk"]["rng"]["bit_generator"] == "PCG64"
    assert sorted(server["replies"]) == sorted(job["job"] for job in world["jobs"])  # each job in flight has its reply
    assert set(server["versions"]) | {checkpoint.round} >= {job["version"] for job in world["jobs"]}  # and the model it downloaded
    assert server["rule"] == {"buffer": []} and server["rng"]["bit_generator"] == "PCG64"
    assert checkpoint.ledger_bytes == {name: len((tmp_path / name).read_bytes()) for name in (ROUNDS_FILE, DEVICES_FILE)}


# SIGKILL from inside a `fedsim run` process at an exact point (die_at's, tests/ on its path).
_SIGKILL_AT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path[:0] = sys.argv[1:3]
    from test_async_resume import die_at
    from fedsim import cli

    die_at(setattr, sys.argv[3], int(sys.argv[4]), lambda: os.kill(os.getpid(), signal.SIGKILL))
    sys.exit(cli.main(["run", *sys.argv[5:]]))
    """
)
_TESTS = Path(__file__).resolve().parents[1]


def _sigkill_then_resume(reference, tmp_path, capsys, kills: dict[str, tuple[str, int]]) -> None:
    """A `fedsim run` subprocess per kill, side by side (each one's start, torch and Hydra, is
    most of its time), each SIGKILLed at its point; then `fedsim resume` on each directory."""
    procs = {
        name: subprocess.Popen([sys.executable, "-c", _SIGKILL_AT, str(_TESTS / "federation"), str(_TESTS), point, str(k), *CONFIGS["fedbuff"],
                                f"hydra.run.dir={tmp_path / name}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for name, (point, k) in kills.items()
    }
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, err
        run_dir = tmp_path / name
        assert load_checkpoint(run_dir / CHECKPOINT_FILE).round == kills[name][1]
        assert not (run_dir / "summary.json").exists()
        capsys.readouterr()
        assert cli.main(["resume", str(run_dir)]) == 0
        assert f"ledger: {run_dir}" in capsys.readouterr().out
        assert _ledger(run_dir) == reference["fedbuff"], name


@pytest.mark.slow  # subprocesses: the default suite's budget (CI runs the slow suite too)
def test_sigkill_at_three_points_then_fedsim_resume_gives_the_uninterrupted_ledger(reference, tmp_path, capsys):
    _sigkill_then_resume(reference, tmp_path, capsys, {"after-1": ("after_checkpoint", 1), "after-3": ("after_checkpoint", 3), "between-4-5": ("between", 4)})


# SIGKILL the instant checkpoint K is handed to the write-behind thread, whose disk sync of it
# never finishes (a stalled disk): the checkpoint on disk is K - 1 and the ledger runs past it.
_SIGKILL_BEFORE_LANDING = textwrap.dedent(
    """
    import os, signal, sys, threading
    from fedsim import _atomic, cli
    from fedsim.federation import _async_server

    k, stalled, save, fsync = int(sys.argv[1]), threading.Event(), _async_server.save_checkpoint, _atomic._fsync_path

    def stalling_fsync(path):
        if stalled.is_set() and ".checkpoint.pt." in str(path):
            threading.Event().wait()  # never returns
        fsync(path)

    def save_then_die(output_dir, checkpoint):
        if checkpoint.round == k - 1:
            path = save(output_dir, checkpoint)
            _atomic.drain_write_behind()  # K - 1 is on disk
            return path
        if checkpoint.round == k:
            stalled.set()
            save(output_dir, checkpoint)
            os.kill(os.getpid(), signal.SIGKILL)
        return save(output_dir, checkpoint)

    _atomic._fsync_path, _async_server.save_checkpoint = stalling_fsync, save_then_die
    sys.exit(cli.main(["run", *sys.argv[2:]]))
    """
)


@pytest.mark.slow  # a subprocess: the default suite's budget
def test_a_kill_before_the_checkpoint_lands_resumes_from_the_one_before(reference, tmp_path, capsys):
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", _SIGKILL_BEFORE_LANDING, "3", *CONFIGS["fedbuff"], f"hydra.run.dir={run_dir}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    checkpoint = load_checkpoint(run_dir / CHECKPOINT_FILE)
    assert checkpoint.round == 2  # 3 was written to a temp file but never renamed into place
    assert len((run_dir / ROUNDS_FILE).read_bytes()) > checkpoint.ledger_bytes[ROUNDS_FILE]  # rows past it, truncated on resume
    assert cli.main(["resume", str(run_dir)]) == 0
    assert _ledger(run_dir) == reference["fedbuff"]


def test_resume_of_an_async_run_killed_before_its_first_checkpoint_says_what_it_writes(tmp_path, capsys, monkeypatch):
    with monkeypatch.context() as patch:
        _kill_at(patch, "before_checkpoint", 0)
        with pytest.raises(Killed):
            fedsim.run(fedsim.compose(CONFIGS["fedasync"]), tmp_path)
    assert cli.main(["resume", str(tmp_path)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"fedsim: error: checkpoint='{tmp_path / CHECKPOINT_FILE}' is not allowed: "), lines
    assert "after every round, or every aggregation of fedasync and fedbuff" in lines[0]
