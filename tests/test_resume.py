"""fedsim resume: a run killed at any point and resumed gives the uninterrupted run's ledger.

Kills are simulated in process where the point must be exact (an exception at a chosen call:
after a round's checkpoint, between the two CSVs, halfway through a row), and done for real with
SIGKILL on a ``fedsim run`` subprocess. Either way the resumed run's rounds.csv, devices.csv and
summary.json (but its wall time) must be byte-identical to a run never interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

import fedsim
from fedsim import cli
from fedsim.federation import _wireless, server_app
from fedsim.federation._checkpoint import CHECKPOINT_FILE, load_checkpoint
from fedsim.ledger import DEVICES_FILE, ROUNDS_FILE

ROUNDS = 6
TINY = {"rounds": ROUNDS, "world": {"num_devices": 4}, "op": {"devices_per_round": 2, "local_iters": 1}, "model": {"hidden": [8]}}
TINY_CLI = [f"rounds={ROUNDS}", "world.num_devices=4", "op.devices_per_round=2", "op.local_iters=1", "model.hidden=[8]"]
# State that carries across rounds: a counting policy, stale CSI, draining batteries, a walk whose
# generator draws new legs (fast walkers reach their waypoints within a round).
STATEFUL = {
    **TINY,
    "policy": {"name": "round_robin", "csi_delay_rounds": 1},
    "devices": {"battery_j": 5e-5},
    "mobility": {"kind": "random_waypoint", "speed_mps": [1e4, 2e4]},
}
# faults=flaky with three devices a round: crashes, non-finite updates, lost messages and stragglers
# (seed 0 draws each kind in these 18 device-rounds; a straggler's compute_s is 4x the others').
FLAKY_CLI = [*TINY_CLI, "op.devices_per_round=3", "faults=flaky"]
# Strategies that carry state across rounds: SCAFFOLD's control variates (the server's c and each
# device's c_i in its context.state), FedAdam's moments, adaptive DP's clipping norm and its noise.
CONFIGS = {
    "tiny": lambda: TINY,
    "stateful": lambda: STATEFUL,
    "flaky": lambda: fedsim.compose(FLAKY_CLI),
    "scaffold": lambda: {**TINY, "strategy": {"name": "scaffold"}},
    "fedadam": lambda: {**TINY, "strategy": {"name": "fedadam"}},
    "dp_adaptive": lambda: {**TINY, "strategy": {"name": "dp_adaptive", "noise_multiplier": 0.05}},
}


class Killed(BaseException):
    """A simulated kill -9 (BaseException: nothing in fedsim may catch it)."""


def _ledger(run_dir: Path) -> dict[str, object]:
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.pop("wall_time_s")
    return {ROUNDS_FILE: (run_dir / ROUNDS_FILE).read_bytes(), DEVICES_FILE: (run_dir / DEVICES_FILE).read_bytes(), "summary": summary}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, dict]:
    """Uninterrupted runs of each configuration, and their ledgers."""
    refs = {}
    for name, config in CONFIGS.items():
        out = tmp_path_factory.mktemp(f"reference-{name}")
        fedsim.run(config(), out)
        refs[name] = _ledger(out)
    return refs


def _kill_at(monkeypatch, point: str, k: int) -> None:
    """Make the next run die at ``point`` of round ``k``."""
    if point == "mid_round":  # after round k-1's checkpoint, while round k trains
        configure = _wireless.WirelessStrategy.configure_train

        def configure_train(self, server_round, *args):
            if server_round == k:
                raise Killed
            return configure(self, server_round, *args)

        monkeypatch.setattr(_wireless.WirelessStrategy, "configure_train", configure_train)
    elif point in ("torn_rounds_row", "between_csvs", "torn_devices_row"):
        # Round k >= 1 appends rounds.csv (call 2(k-1)) then devices.csv (call 2(k-1) + 1).
        from fedsim import ledger

        append, calls = ledger.append_durably, []
        target = 2 * (k - 1) + (0 if point == "torn_rounds_row" else 1)

        def append_durably(path, data):
            calls.append(path)
            if len(calls) - 1 == target:
                if point != "between_csvs":
                    append(path, data[: data.index(b",") + 1])  # part of a row on disk, then death
                raise Killed
            return append(path, data)

        monkeypatch.setattr(ledger, "append_durably", append_durably)
    elif point == "before_checkpoint":  # round k's rows are written, its checkpoint is not
        save = server_app.save_checkpoint

        def save_checkpoint(output_dir, checkpoint):
            if checkpoint.round == k:
                raise Killed
            return save(output_dir, checkpoint)

        monkeypatch.setattr(server_app, "save_checkpoint", save_checkpoint)
    else:  # "before_summary": every round checkpointed, summary.json not yet written
        monkeypatch.setattr(server_app.Ledger, "write_summary", lambda self, summary: (_ for _ in ()).throw(Killed()))


@pytest.mark.parametrize(
    ("config", "point", "k"),
    [
        ("tiny", "mid_round", 1),
        ("tiny", "torn_rounds_row", 2),
        ("tiny", "between_csvs", 3),
        ("tiny", "torn_devices_row", 4),
        ("tiny", "before_checkpoint", 5),
        ("tiny", "before_summary", ROUNDS),
        ("stateful", "mid_round", 3),
        ("stateful", "torn_devices_row", 5),
        ("flaky", "mid_round", 2),
        ("flaky", "torn_rounds_row", 3),
        ("flaky", "before_checkpoint", 4),
        ("flaky", "torn_devices_row", 5),
        ("scaffold", "mid_round", 3),
        ("scaffold", "before_checkpoint", 4),
        ("fedadam", "mid_round", 3),
        ("dp_adaptive", "torn_devices_row", 4),
    ],
)
def test_a_killed_run_resumes_to_the_uninterrupted_ledger(reference, tmp_path, monkeypatch, config, point, k):
    with monkeypatch.context() as patch:
        _kill_at(patch, point, k)
        with pytest.raises(Killed):
            fedsim.run(CONFIGS[config](), tmp_path)
    assert not (tmp_path / "summary.json").exists()
    result = fedsim.resume(tmp_path)
    assert _ledger(tmp_path) == reference[config]
    assert result.rounds[-1]["round"] == ROUNDS and len(result.devices) == (3 if config == "flaky" else 2) * ROUNDS
    assert not (tmp_path / CHECKPOINT_FILE).exists()  # a finished run keeps none


def test_a_checkpoint_records_the_state_that_carries_across_rounds(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        _kill_at(patch, "mid_round", 4)
        with pytest.raises(Killed):
            fedsim.run(STATEFUL, tmp_path)
    checkpoint = load_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert checkpoint.round == 3
    assert checkpoint.policy == {"next_device": (3 * 2) % 4}
    assert checkpoint.world["now_s"] > 0 and len(checkpoint.world["csi_history"]) == 2
    assert checkpoint.world["motion"]["walk"]["rng"]["bit_generator"] == "PCG64"
    assert checkpoint.strategy["previous_outcome"]["round"] == 3
    assert checkpoint.ledger_bytes == {name: len((tmp_path / name).read_bytes()) for name in (ROUNDS_FILE, DEVICES_FILE)}


def _cli_error(capsys, *args: str) -> str:
    assert cli.main(["resume", *args]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fedsim: error: "), lines
    return lines[0]


@pytest.fixture
def killed_run(tmp_path, monkeypatch) -> Path:
    """A run directory killed during round 2."""
    with monkeypatch.context() as patch:
        _kill_at(patch, "mid_round", 2)
        with pytest.raises(Killed):
            fedsim.run(TINY, tmp_path)
    return tmp_path


def test_resume_refuses_a_config_that_no_longer_validates(killed_run, capsys):
    config = yaml.safe_load((killed_run / "config.yaml").read_text())
    config["op"]["train_bits"] = 0
    (killed_run / "config.yaml").write_text(yaml.safe_dump(config))
    line = _cli_error(capsys, str(killed_run))
    assert "op.train_bits=0 is not allowed: an integer in [1, 32]" in line and str(killed_run / "config.yaml") in line


def test_resume_refuses_an_edited_config(killed_run, capsys):
    config = yaml.safe_load((killed_run / "config.yaml").read_text())
    config["train"]["lr"] = 0.5
    (killed_run / "config.yaml").write_text(yaml.safe_dump(config))
    assert "train.lr=0.5 is not allowed: 0.1, its value when the run was checkpointed" in _cli_error(capsys, str(killed_run))


def test_resume_refuses_a_directory_without_checkpoint(killed_run, capsys, tmp_path_factory):
    (killed_run / CHECKPOINT_FILE).unlink()
    assert f"checkpoint='{killed_run / CHECKPOINT_FILE}' is not allowed" in _cli_error(capsys, str(killed_run))
    empty = tmp_path_factory.mktemp("empty")
    assert "a run directory written by fedsim run (no config.yaml there)" in _cli_error(capsys, str(empty))


def test_resume_refuses_a_ledger_shorter_than_its_checkpoint(killed_run, capsys):
    (killed_run / DEVICES_FILE).write_bytes((killed_run / DEVICES_FILE).read_bytes()[:40])
    assert "at least the" in _cli_error(capsys, str(killed_run))


def _fedsim(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fedsim", *args], capture_output=True, text=True, timeout=300, **kwargs)


def test_resume_of_a_finished_run_exits_2_with_one_line(reference, tmp_path):
    fedsim.run(TINY, tmp_path)
    proc = _fedsim("resume", str(tmp_path))
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0] == f"fedsim: error: run_dir='{tmp_path}' is not allowed: an unfinished run (summary.json is there: this run finished)"


def _rows(path: Path) -> int:
    return path.read_text().count("\n") - 1 if path.is_file() else -1


def _sigkill_then_resume(reference, run_dir: Path, after_round: int, config: str = "tiny") -> None:
    """``fedsim run`` killed with SIGKILL (by its pid) once round ``after_round``'s rows are
    there, whatever it is doing then; then ``fedsim resume`` on the command line."""
    cli_args = {"tiny": TINY_CLI, "flaky": FLAKY_CLI}[config]
    proc = subprocess.Popen([sys.executable, "-m", "fedsim", "run", *cli_args, f"hydra.run.dir={run_dir}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _rows(run_dir / ROUNDS_FILE) < after_round + 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    if proc.returncode != -signal.SIGKILL or (run_dir / "summary.json").exists():
        pytest.skip("the run finished before it could be killed")
    checkpointed = (run_dir / CHECKPOINT_FILE).exists()  # (a finished resume deletes it)
    resumed = _fedsim("resume", str(run_dir))
    if not checkpointed:  # killed before round 0 was checkpointed
        assert resumed.returncode == 2 and "is not allowed: a checkpoint" in resumed.stderr, resumed.stderr
        return
    assert resumed.returncode == 0, resumed.stderr
    assert f"ledger: {run_dir}" in resumed.stdout
    assert _ledger(run_dir) == reference[config]


@pytest.mark.slow  # subprocesses: the default suite's budget (in-process kill points and seed-band plots stay)
def test_sigkill_then_fedsim_resume_gives_the_uninterrupted_ledger(reference, tmp_path):
    _sigkill_then_resume(reference, tmp_path / "run", after_round=2)


@pytest.mark.slow  # subprocesses: the default suite's budget (CI runs the slow suite too)
def test_sigkill_of_a_faulty_run_then_fedsim_resume_gives_the_uninterrupted_ledger(reference, tmp_path):
    _sigkill_then_resume(reference, tmp_path / "run", after_round=3, config="flaky")


@pytest.mark.slow
@pytest.mark.parametrize("after_round", [0, 1, 3, 4, 5])
def test_sigkill_at_other_rounds(reference, tmp_path, after_round):
    _sigkill_then_resume(reference, tmp_path / "run", after_round)


# SIGKILL inside the process, partway through appending round K's devices.csv rows (rounds.csv's
# row of round K already on disk): the worst place a real kill can land.
_TORN_APPEND = textwrap.dedent(
    """
    import os, signal, sys
    from fedsim import cli, ledger

    append, calls, target = ledger.append_durably, [], 2 * (int(sys.argv[1]) - 1) + 1
    def append_durably(path, data):
        calls.append(path)
        if len(calls) - 1 == target:
            append(path, data[: data.index(b",") + 1])
            os.kill(os.getpid(), signal.SIGKILL)
        return append(path, data)
    ledger.append_durably = append_durably
    sys.exit(cli.main(["run", *sys.argv[2:]]))
    """
)


def test_sigkill_halfway_through_a_row_then_resume(reference, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", _TORN_APPEND, "3", *TINY_CLI, f"hydra.run.dir={run_dir}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (run_dir / DEVICES_FILE).read_text().endswith("\n")  # the torn row is there
    assert load_checkpoint(run_dir / CHECKPOINT_FILE).round == 2
    fedsim.resume(run_dir)
    assert _ledger(run_dir) == reference["tiny"]
    shutil.rmtree(run_dir)


@pytest.mark.slow
def test_a_compressed_lm_run_resumes_to_the_uninterrupted_ledger(tmp_path, monkeypatch):
    from run_helpers import TINY_LM

    fedsim.run(TINY_LM, tmp_path / "reference")
    with monkeypatch.context() as patch:
        _kill_at(patch, "torn_devices_row", 2)
        with pytest.raises(Killed):
            fedsim.run(TINY_LM, tmp_path / "run")
    fedsim.resume(tmp_path / "run")
    assert _ledger(tmp_path / "run") == _ledger(tmp_path / "reference")


def test_the_flaky_reference_run_shows_the_faults_it_resumes_through(reference):
    """The kill/resume cases above are only worth something if faults really fired before and
    after each kill point."""
    rows = reference["flaky"][DEVICES_FILE].decode().splitlines()
    header = rows[0].split(",")
    by_round: dict[str, set[str]] = {}
    compute_s = set()
    for line in rows[1:]:
        cells = dict(zip(header, line.split(","), strict=True))
        by_round.setdefault(cells["round"], set()).add(cells["drop_reason"])
        compute_s.add(float(cells["compute_s"]))
    reasons = set().union(*by_round.values())
    assert {"client_error", "nonfinite_update", "message_loss"} <= reasons, reasons
    assert len(compute_s) == 2 and max(compute_s) == pytest.approx(4.0 * min(compute_s))  # stragglers x4
    early = set().union(*(by_round[str(r)] for r in (1, 2)))
    late = set().union(*(by_round[str(r)] for r in range(3, ROUNDS + 1)))
    assert early - {""} and late - {""}, (early, late)  # faults on both sides of the kills
    assert reference["flaky"]["summary"]["drops"]["client_error"] >= 1


def test_an_optimized_run_resumes_with_its_checkpointed_point_when_choice_json_is_gone(tmp_path, monkeypatch):
    """policy=optimized keeps its chosen (I, K, m, n) in the checkpoint: resume needs no choice.json."""
    choice = tmp_path / "choice.json"
    choice.write_text(json.dumps({"nbs": {"I": 1, "K": 3, "m": 8, "n": 8}}))
    config = {**TINY, "rounds": 3, "policy": {"name": "optimized", "choice_path": str(choice)}}
    reference = _ledger(fedsim.run(config, tmp_path / "reference").output_dir)
    with monkeypatch.context() as patch:
        _kill_at(patch, "mid_round", 2)
        with pytest.raises(Killed):
            fedsim.run(config, tmp_path / "run")
    choice.unlink()
    fedsim.resume(tmp_path / "run")
    assert _ledger(tmp_path / "run") == reference and reference["summary"]["op"]["devices_per_round"] == 3


def test_a_full_disk_stops_a_run_with_one_line_and_resume_finishes_it_once_there_is_space(reference, tmp_path, monkeypatch, capfd):
    """ENOSPC at any write (a ledger row, a checkpoint) is one line and exit 1; what was written
    stays consistent, so resume gives the uninterrupted ledger once there is space."""
    import errno

    from fedsim import ledger

    def fedsim_cli(*args: str) -> tuple[int, list[str]]:  # its exit status and the stderr lines a terminal shows
        capfd.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as stop:
            code = stop.code
        return code, [line.split("\r")[-1] for line in capfd.readouterr().err.split("\n") if line.split("\r")[-1].strip()]

    append, save, appended = ledger.append_durably, server_app.save_checkpoint, []

    def append_until_full(path, data):  # rounds 1 and 2 fit; round 3's first row does not
        if len(appended) == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        appended.append(path)
        return append(path, data)

    def save_until_full(output_dir, checkpoint):
        if checkpoint.round == 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(output_dir / CHECKPOINT_FILE))
        return save(output_dir, checkpoint)

    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:  # the disk fills while round 3 appends its rows
        patch.setattr(ledger, "append_durably", append_until_full)
        code, lines = fedsim_cli("run", *TINY_CLI, f"hydra.run.dir={run_dir}")
    assert code == 1 and lines == [f"fedsim: error: {run_dir / ROUNDS_FILE}: No space left on device [ENOSPC]; the run stopped: once fixed, "
                                   f"fedsim resume {run_dir} continues it from its last checkpoint"], lines
    with monkeypatch.context() as patch:  # then while round 5's checkpoint is written
        patch.setattr(server_app, "save_checkpoint", save_until_full)
        code, lines = fedsim_cli("resume", str(run_dir))
    assert code == 1 and len(lines) == 1 and f"{run_dir / CHECKPOINT_FILE}: No space left on device [ENOSPC]" in lines[0], lines
    assert fedsim_cli("resume", str(run_dir))[0] == 0
    assert _ledger(run_dir) == reference["tiny"]
