"""The ``fedsim`` command line, run as a user would (subprocesses)."""

import json
import subprocess
import sys

import pytest

TINY = ["rounds=1", "world.num_devices=4", "op.devices_per_round=2", "op.local_iters=1", "model.hidden=[8]"]


def fedsim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fedsim", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # A few of tests/test_bad_input_corpus.py's cases, through a real `python -m fedsim` process.
        ("op.train_bits=0", "op.train_bits=0 is not allowed: an integer in [1, 32]"),
        ("dataset=mnist dataset.path=/nonexistent/mnist", "dataset.path='/nonexistent/mnist' is not allowed"),
        ("radio.tx_powr_w=1", "radio.tx_powr_w='1' is not allowed: not a known key; did you mean radio.tx_power_w?"),
        ("model=tinylm op.train_bits=32 lm.checkpoint=/nonexistent/llama", "lm.checkpoint='/nonexistent/llama' is not "
         "allowed: does not exist; expected a local directory written by save_pretrained"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(override, message, tmp_path):
    out = tmp_path / "run"
    proc = fedsim("run", *TINY, *override.split(), f"hydra.run.dir={out}")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fedsim: error: ") and message in lines[0], proc.stderr
    assert not out.exists()  # not even Hydra's own record of the run


def test_run_then_plot(tmp_path):
    out = tmp_path / "run"
    proc = fedsim("run", *TINY, "op.train_bits=4", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert "final_acc" in proc.stdout and "jobs done" not in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["op"]["train_bits"] == 4
    assert "train_bits: 4" in (out / "config.yaml").read_text()
    proc = fedsim("plot", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "accuracy_vs_rounds.png").stat().st_size > 0
    assert (out / "accuracy_vs_energy.png").stat().st_size > 0


@pytest.mark.slow  # subprocesses: the default suite's budget (in-process kill points and seed-band plots stay)
def test_sweep_then_tradeoff_plot(tmp_path):
    sweep = tmp_path / "sweep"
    proc = fedsim("run", "-m", *TINY, "op.train_bits=4,32", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr
    assert "sweep: 2 finished runs" in proc.stdout and "total_energy_j" in proc.stdout
    assert "sweep: 1/2 jobs done" in proc.stdout and "sweep: 2/2 jobs done" in proc.stdout
    bits = sorted(json.loads((sweep / str(job) / "summary.json").read_text())["op"]["train_bits"] for job in (0, 1))
    assert bits == [4, 32]
    proc = fedsim("plot", str(sweep))
    assert proc.returncode == 0, proc.stderr
    assert (sweep / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "op.train_bits" in (sweep / "sweep_summary.csv").read_text()


@pytest.mark.slow  # a trained model or a subprocess run: the default suite's budget
def test_scenario_selects_a_file_of_scenarios(shared_mnist_dir, tmp_path):
    out = tmp_path / "run"
    proc = fedsim(
        "run", "scenario=mnist_noniid_qcnn", f"dataset.path={shared_mnist_dir}", "rounds=1",
        "world.num_devices=5", "op.devices_per_round=2", "op.local_iters=1", f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "mnist" and summary["model"] == "cnn"


def test_unknown_scenario_and_command():
    proc = fedsim("run", "scenario=nope")
    assert proc.returncode == 2 and "scenario='nope' is not allowed: one of" in proc.stderr
    proc = fedsim("fly")
    assert proc.returncode == 2 and "command='fly' is not allowed" in proc.stderr


def test_the_joblib_launcher_is_installed_for_hydra():
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher

    assert "JoblibLauncher" in {plugin.__name__ for plugin in Plugins.instance().discover(Launcher)}


@pytest.mark.slow
def test_a_joblib_sweep_writes_the_ledgers_of_serial_runs(tmp_path):
    import fedsim as api

    sweep = tmp_path / "sweep"
    proc = fedsim("run", "-m", *TINY, "op.train_bits=4,32", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    assert "sweep: 2/2 jobs done" in proc.stdout and "sweep: 2 finished runs" in proc.stdout and "total_energy_j" in proc.stdout
    job_of_bits = {json.loads((sweep / str(job) / "summary.json").read_text())["op"]["train_bits"]: job for job in (0, 1)}
    for bits, job in job_of_bits.items():
        serial = api.run(api.compose([*TINY, f"op.train_bits={bits}"]), tmp_path / f"serial-{bits}")
        for name in ("rounds.csv", "devices.csv"):
            assert (sweep / str(job) / name).read_bytes() == (serial.output_dir / name).read_bytes()
