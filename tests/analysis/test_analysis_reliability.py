"""reliability (issue 30): ``fedsim plot`` on folders a hostile user hands it. A folder that mixes a
classifier, an asynchronous and a language-model run plots without a traceback or a warning; a file
or folder this user cannot read, or cannot write into, is one line (read: exit 2, write: exit 1).

The permission cases are simulated (the tests may run as root, whom chmod does not stop)."""

from __future__ import annotations

import builtins
import csv
import errno
import warnings
from pathlib import Path

import pytest

from analysis import plot_paths
from fedsim.cli import main

# Runs that differ in many keys, as a classifier, a fedbuff and a TinyLM run really do: long labels.
_KEYS = {"strategy": {"name": "fedbuff", "server_lr": 1.0, "staleness": "polynomial", "staleness_a": 0.5, "staleness_b": 4.0,
                      "buffer_size": 5}, "lm": {"pretrain_steps": 300, "d_model": 64}, "world": {"num_devices": 4}}


def _mixed_folder(root: Path, write_run) -> Path:
    write_run(root / "cls", extra_config={"strategy": {"name": "fedavg"}, "model": {"name": "mlp", "hidden": [8]}, "lm": {"pretrain_steps": 300}})
    write_run(root / "async", extra_config={**_KEYS, "model": {"name": "mlp", "hidden": [8]}})
    lm = write_run(root / "lm", train_bits=32, local_iters=1, extra_config={"strategy": {"name": "fedavg"}, "model": {"name": "tinylm", "hidden": []},
                                                                             "lm": {"pretrain_steps": 0, "d_model": 32}, "world": {"num_devices": 2}})
    with (lm / "rounds.csv").open() as handle:
        rows = list(csv.reader(handle))
    with (lm / "rounds.csv").open("w", newline="") as handle:  # the language model's own column
        csv.writer(handle).writerows([rows[0] + ["test_perplexity"]] + [row + [str(250.0 - i)] for i, row in enumerate(rows[1:])])
    return root


def test_a_folder_mixing_a_classifier_an_async_and_a_language_model_run_plots(tmp_path, capfd, make_run, png_ok):
    root = _mixed_folder(tmp_path / "mixed", make_run)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "axes sizes collapsed to zero" is a failure here
        written = plot_paths([root])
    names = {p.name for p in written}
    assert {"tradeoff.png", "accuracy_vs_rounds.png", "perplexity_vs_energy.png", "accuracy_vs_time.png"} <= names
    for path in written:
        if path.suffix == ".png":
            png_ok(path)
    capfd.readouterr()
    assert main(["plot", str(tmp_path / "mixed" / "cls"), str(tmp_path / "mixed" / "lm"), str(tmp_path / "mixed" / "async")]) == 0
    assert capfd.readouterr().err == ""


def _deny(monkeypatch, path: Path, *, writes_only: bool) -> None:
    """open() of ``path`` (or anything below it) fails with EACCES, as for a user without the rights."""
    real_open = builtins.open

    def denied(file, mode="r", *args, **kwargs):
        inside = isinstance(file, (str, Path)) and (Path(file) == path or path in Path(file).parents)
        if inside and (not writes_only or any(c in mode for c in "wxa+")):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    monkeypatch.setattr("io.open", denied)


def _cli_lines(args: list[str], capfd) -> tuple[int, list[str]]:
    capfd.readouterr()
    code = main(args)
    return code, [line for line in capfd.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["rounds.csv", "summary.json", "config.yaml"])
def test_an_unreadable_ledger_file_is_one_line(tmp_path, monkeypatch, capfd, name, make_run):
    run = make_run(tmp_path / "run")
    _deny(monkeypatch, run / name, writes_only=False)
    code, lines = _cli_lines(["plot", str(run)], capfd)
    assert code == 2 and lines == [f"fedsim: error: {run / name} cannot be read: Permission denied"], lines


def test_a_folder_that_cannot_be_searched_is_one_line(tmp_path, monkeypatch, capfd, make_run):
    run = make_run(tmp_path / "run")
    real_stat = Path.stat

    def stat(self, *args, **kwargs):  # chmod 000 on the folder: its entries cannot be looked up
        if self.parent == run:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    code, lines = _cli_lines(["plot", str(run)], capfd)
    assert code == 2 and len(lines) == 1 and f"{run} cannot be read: Permission denied" in lines[0], lines


def test_plotting_into_a_read_only_folder_is_one_line_and_exit_1(tmp_path, monkeypatch, capfd, make_run, no_temp_files):
    run = make_run(tmp_path / "run")
    _deny(monkeypatch, run, writes_only=True)
    code, lines = _cli_lines(["plot", str(run)], capfd)
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"fedsim: error: {run}/") and lines[0].endswith(".png: Permission denied [EACCES]"), lines
    no_temp_files(run)


def test_a_full_disk_while_plotting_is_one_line_and_exit_1(tmp_path, monkeypatch, capfd, make_run):
    import analysis._plot_common as common

    run = make_run(tmp_path / "run")

    def full(fig, path, dpi=130):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(common, "save_figure", full)
    monkeypatch.setattr("analysis._run_plots.save_figure", full, raising=False)
    code, lines = _cli_lines(["plot", str(run)], capfd)
    assert code == 1 and len(lines) == 1 and lines[0].endswith("No space left on device [ENOSPC]"), lines
