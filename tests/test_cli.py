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


def _with_stdout_closed(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """``python -m fedsim ARGS`` whose stdout is a pipe nobody reads any more (``| head`` after
    its line): every write to it fails with EPIPE, deterministically."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "fedsim", *args], stdout=write_end, stderr=subprocess.PIPE, text=True,
                              cwd=cwd, timeout=300)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["optimize", "--help"], ["reproduce", "--help"],
                                  ["resume", "--help"], ["plot", "--help"], ["run-app", "--help"]])
def test_output_piped_to_a_reader_that_left_ends_quietly(args):
    proc = _with_stdout_closed(*args)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_a_run_whose_stdout_reader_left_still_writes_its_ledger(tmp_path):
    """`fedsim run ... | head -1`: the summary table cannot be printed, the run is still whole."""
    out = tmp_path / "run"
    proc = _with_stdout_closed("run", *TINY, f"hydra.run.dir={out}")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and "Broken pipe" not in proc.stderr, proc.stderr
    assert (out / "summary.json").is_file()


def test_run_help_lists_groups_options_main_keys_and_the_configuration_reference():
    proc = fedsim("run", "--help")
    assert proc.returncode == 0 and "Hydra" not in proc.stdout.splitlines()[0], proc.stdout
    text = proc.stdout
    assert text.startswith("usage: fedsim run [--overwrite] [-m]")
    assert "powered by Hydra" not in text
    # Every group of conf/ with every option, the default one in brackets.
    assert "  access       [orthogonal] fdma, ofdma, orthogonal, tdma\n" in text
    assert "  dataset      [digits] cifar10, digits, fashion_mnist, femnist, hf, mnist, npz, shakespeare\n" in text
    assert "  scenario     [none] chen2020_drone_handover," in text
    for line in ("  world.deadline_s           [null] ", "  op.devices_per_round       [10] ", "  rounds                     [30] "):
        assert line in text
    assert '"Configuration reference"' in text and "docs/reference/configuration.md" in text


def test_the_help_texts_main_keys_exist_and_show_the_composed_defaults():
    from analysis import flatten_config

    import fedsim
    from fedsim.cli import _MAIN_KEYS, command_help

    composed = flatten_config(fedsim.compose([]).to_dict())
    for prog, keys in _MAIN_KEYS.items():
        text = command_help(prog)
        for key, _ in keys:
            value = composed[key]  # a KeyError: the help names a key the config does not have
            assert f"  {key:<27}[{'null' if value is None else value}] " in text, (prog, key)
    assert command_help("fedsim optimize").startswith("usage: fedsim optimize ")


# README "Running experiments": the TDMA + deadline example, whose deadline binds (with rounds=3:
# 2, 6 and 3 of the 10 uploads of each round dropped for it).
README_DEADLINE_EXAMPLE = ["access=tdma", "world.deadline_s=0.02", "devices.battery_j=2"]


def test_the_readme_deadline_example_drops_uploads_for_the_deadline(tmp_path):
    import csv

    import fedsim

    fedsim.run(fedsim.compose([*README_DEADLINE_EXAMPLE, "rounds=3"]), tmp_path)
    with open(tmp_path / "devices.csv") as handle:
        reasons = [row["drop_reason"] for row in csv.DictReader(handle)]
    assert len(reasons) == 30 and 0 < reasons.count("deadline") < 30
