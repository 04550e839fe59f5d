"""`fedsim plot` on a sync/async pair: accuracy vs simulated time and vs cumulative energy, every
run on the same axes; the plotted series are the ledgers' own numbers."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from analysis import comparison_series, load_run, plot_comparison, plot_paths, plot_sweep
from fedsim.cli import main

ASYNC_ROWS = [  # round, sim_time_s, energy_cum_j, test_accuracy (an aggregation per row)
    (0, 0.0, 0.0, 0.10), (1, 0.2, 0.5, 0.40), (2, 0.35, 1.1, ""), (3, 0.5, 1.6, 0.70), (4, 0.9, 2.0, 0.82),
]


def _async_run(make_run, path):
    make_run(path, n_rounds=6, extra_config={"strategy": {"name": "fedbuff"}})
    with (path / "rounds.csv").open("w", newline="") as fh:  # its own clock, a row without an evaluation
        writer = csv.writer(fh)
        writer.writerow(["round", "sim_time_s", "energy_round_j", "energy_cum_j", "test_accuracy", "mean_staleness"])
        previous = 0.0
        for r, t, e, a in ASYNC_ROWS:
            writer.writerow([r, t, e - previous, e, a, "" if r == 0 else 1.0])
            previous = e
    return path


@pytest.fixture
def pair(tmp_path, make_run):
    sync = make_run(tmp_path / "pair" / "sync", n_rounds=6, extra_config={"strategy": {"name": "fedavg"}})
    return sync, _async_run(make_run, tmp_path / "pair" / "fedbuff")


def test_the_series_are_the_ledgers_numbers(pair):
    sync, buffered = pair
    series = comparison_series([load_run(sync), load_run(buffered)])
    assert [s.label for s in series] == ["sync", "fedbuff"]  # the run directories' names
    rows = list(csv.DictReader(open(sync / "rounds.csv")))
    np.testing.assert_allclose(series[0].sim_time_s, [float(r["sim_time_s"]) for r in rows])
    np.testing.assert_allclose(series[0].energy_cum_j, [float(r["energy_cum_j"]) for r in rows])
    np.testing.assert_allclose(series[0].accuracy, [float(r["test_accuracy"]) for r in rows])
    assert series[0].sim_time_s.tolist() == [0.0, 1.5, 3.0, 4.5, 6.0, 7.5, 9.0]  # 1.5 s per synchronous round
    evaluated = [row for row in ASYNC_ROWS if row[3] != ""]  # round 2 has no evaluation: skipped
    assert series[1].sim_time_s.tolist() == [t for _, t, _, _ in evaluated]
    assert series[1].energy_cum_j.tolist() == [e for _, _, e, _ in evaluated]
    assert series[1].accuracy.tolist() == [a for _, _, _, a in evaluated]


def test_a_clock_from_round_times_when_sim_time_is_absent(tmp_path, make_run):
    run = make_run(tmp_path / "old", n_rounds=2)
    (run / "rounds.csv").write_text("round,round_time_s,energy_cum_j,test_accuracy\n0,0,0,0.1\n1,0.25,1,0.5\n2,0.5,2,0.7\n")
    assert comparison_series([load_run(run)])[0].sim_time_s.tolist() == [0.0, 0.25, 0.75]


def test_plot_comparison_writes_both_figures(pair, tmp_path, png_ok, no_temp_files):
    written = plot_comparison(list(pair), tmp_path / "figs")
    assert [p.name for p in written] == ["accuracy_vs_time.png", "accuracy_vs_energy.png", "comparison.csv"]
    for path in written[:2]:
        png_ok(path)
    no_temp_files(tmp_path / "figs")


def test_fedsim_plot_on_two_runs_writes_into_their_parent(pair, capsys, png_ok):
    assert main(["plot", *map(str, pair)]) == 0
    parent = pair[0].parent
    png_ok(parent / "accuracy_vs_time.png")
    png_ok(parent / "accuracy_vs_energy.png")
    assert str(parent / "accuracy_vs_time.png") in capsys.readouterr().out


def test_a_sweep_mixing_federations_adds_the_comparison(pair):
    names = [p.name for p in plot_sweep(pair[0].parent)]
    assert names == ["tradeoff.png", "accuracy_vs_rounds.png", "accuracy_vs_time.png", "accuracy_vs_energy.png", "comparison.csv",
                     "sweep_summary.csv"]


def test_several_paths_must_all_be_runs(pair, tmp_path, capsys):
    assert main(["plot", str(pair[0]), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a fedsim run directory" in err[0] and "nowhere" in err[0]
    (pair[1] / "rounds.csv").write_text("round,test_accuracy\n1,0.5\n2")  # cut off mid-row
    with pytest.raises(ValueError, match="line 3 has 1 fields, the header 2"):
        plot_paths(list(pair), tmp_path / "figs")
    assert main(["plot", *map(str, pair)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fedsim: error: ") and "truncated or damaged" in err[0]
    assert not (tmp_path / "figs").exists() and not (pair[0].parent / "accuracy_vs_time.png").exists()


def _many_keys_runs(tmp_path, make_run, count=3):
    """Runs whose directories' names are long and which differ in many keys (the legend that used
    to be cut off and collapse the layout)."""
    runs = []
    for i in range(count):
        extra = {"strategy": {"name": ["fedavg", "fedprox", "fedbuff"][i % 3], "mu": 0.01 * i},
                 "radio": {"tx_power_w": 0.1 * (i + 1), "bandwidth_hz": 1e6 * (i + 1)},
                 "world": {"num_devices": 10 + i, "area_side_m": 500.0 + i}, "train": {"lr": 0.1 / (i + 1)}}
        runs.append(make_run(tmp_path / "many" / f"2026-01-31_12-00-0{i}_a-long-directory-name", n_rounds=4, extra_config=extra))
    return runs


@pytest.mark.filterwarnings("error::UserWarning")  # constrained_layout's "axes sizes collapsed" among them
def test_a_comparison_of_runs_differing_in_many_keys_uses_short_labels_and_a_table(tmp_path, make_run, png_ok):
    from analysis import comparison_labels, comparison_table

    runs = [load_run(r) for r in _many_keys_runs(tmp_path, make_run)]
    assert comparison_labels(runs) == ["A", "B", "C"]  # the names are too long for a legend
    header, rows = comparison_table(runs)
    assert header[:2] == ["label", "run"]
    assert {"strategy.name", "strategy.mu", "radio.tx_power_w", "world.num_devices", "train.lr"} <= set(header[2:])
    assert [row[0] for row in rows] == ["A", "B", "C"] and rows[1][1] == str(runs[1].path)
    assert rows[1][header.index("strategy.name")] == "fedprox" and rows[2][header.index("world.num_devices")] == "12"
    written = plot_comparison(runs, tmp_path / "figs")
    for path in written[:2]:
        png_ok(path)
    with open(tmp_path / "figs" / "comparison.csv", newline="") as handle:
        assert [list(r) for r in csv.reader(handle)] == [header, *rows]
    # The legend holds the labels only, and sits outside the axes.
    import matplotlib.pyplot as plt

    from analysis._comparison_plots import comparison_series

    assert [s.label for s in comparison_series(runs)] == ["A", "B", "C"]
    plt.close("all")


def test_fedsim_plot_of_several_runs_prints_what_each_label_is(tmp_path, make_run, capsys):
    runs = _many_keys_runs(tmp_path, make_run, count=2)
    assert main(["plot", *map(str, runs)]) == 0
    out = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(out) if line.startswith("label"))
    assert "run" in out[head] and "strategy.name" in out[head]
    assert out[head + 2].startswith("A ") and "fedavg" in out[head + 2] and out[head + 3].startswith("B ") and "fedprox" in out[head + 3]
