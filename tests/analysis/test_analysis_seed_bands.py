"""Seeds as a sweep axis: groups of seeds drawn as a mean with a 95% Student-t band, tabulated as
mean ± half-width; sweeps without seed repeats keep their one-line-per-run figures."""

import csv
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml

from analysis import band_vs_energy, band_vs_rounds, find_runs, load_run, main, plot_sweep, seed_groups, t_interval
from analysis._seed_groups import format_interval, seed_summary_rows, seed_table
from analysis._seed_plots import _draw_group

T_975_2 = 4.302652729749462  # Student t quantile 0.975 with 2 degrees of freedom (3 seeds)

# three seeds of one configuration: accuracy per round and cumulative energy per round
ACC = {0: [0.1, 0.5, 0.7], 1: [0.2, 0.6, 0.8], 2: [0.3, 0.4, 0.9]}
ENERGY = {0: [0.0, 1.0, 2.0], 1: [0.0, 2.0, 4.0], 2: [0.0, 1.5, 3.0]}


def write_seed_run(run_dir: Path, seed: int, acc, energy, train_bits: int = 8, target=0.95) -> Path:
    """A minimal run directory with the given accuracy and cumulative energy per round."""
    run_dir.mkdir(parents=True)
    with (run_dir / "rounds.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["round", "sim_time_s", "energy_round_j", "energy_cum_j", "test_accuracy"])
        for r, (a, e) in enumerate(zip(acc, energy)):
            w.writerow([r, 0.5 * r, e - (energy[r - 1] if r else 0.0), e, a])
    reached = next((r for r, a in enumerate(acc) if target is not None and a >= target), None)
    summary = {
        "final_accuracy": acc[-1], "total_energy_j": energy[-1], "rounds": len(acc) - 1,
        "sim_time_s": 0.5 * (len(acc) - 1), "wall_time_s": 1.0 + seed, "target_accuracy": target,
        "rounds_to_target": reached, "energy_to_target_j": None if reached is None else energy[reached],
        "seed": seed, "op": {"train_bits": train_bits},
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    cfg = {"seed": seed, "rounds": 2, "output_dir": str(run_dir), "op": {"train_bits": train_bits}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    return run_dir


def three_seeds(root: Path, train_bits: int = 8, start: int = 0) -> None:
    for k, seed in enumerate(ACC):
        write_seed_run(root / str(start + k), seed, ACC[seed], ENERGY[seed], train_bits)


def load(root: Path):
    return [load_run(p) for p in find_runs(root)]


def hand_interval(values):
    values = np.asarray(values, dtype=float)
    return values.mean(), T_975_2 * values.std(ddof=1) / math.sqrt(values.size)


def test_band_vs_rounds_is_the_t_interval(tmp_path, png_ok):
    three_seeds(tmp_path / "sw")
    runs = load(tmp_path / "sw")
    band = band_vs_rounds(runs)
    assert band.n == 3
    assert band.x.tolist() == [0.0, 1.0, 2.0]
    for r in range(3):
        mean, half = hand_interval([ACC[s][r] for s in ACC])
        assert band.mean[r] == pytest.approx(mean, rel=1e-12)
        assert band.half_width[r] == pytest.approx(half, rel=1e-9)
    # round 0: mean 0.2, s = 0.1, half-width 4.3027 * 0.1 / sqrt(3)
    assert (band.mean[0], band.half_width[0]) == pytest.approx((0.2, 0.2484138), rel=1e-6)
    assert band.lower[0] == pytest.approx(0.2 - 0.2484138, rel=1e-6)

    written = plot_sweep(tmp_path / "sw")
    assert [p.name for p in written] == ["tradeoff.png", "accuracy_vs_rounds.png", "sweep_summary.csv", "seed_summary.csv"]
    png_ok(tmp_path / "sw" / "tradeoff.png")
    png_ok(tmp_path / "sw" / "accuracy_vs_rounds.png")
    assert plt.get_fignums() == []


def test_band_vs_energy_interpolates_on_the_common_range(tmp_path):
    three_seeds(tmp_path / "sw")
    band = band_vs_energy(load(tmp_path / "sw"))
    # every seed covers [0, 2] J (seed 0 stops there); the grid is the seeds' energies in it
    assert band.x.tolist() == [0.0, 1.0, 1.5, 2.0]
    by_hand = {  # each seed's accuracy linearly interpolated at the grid energies
        0.0: [0.1, 0.2, 0.3],
        1.0: [0.5, 0.2 + 0.4 * 1.0 / 2.0, 0.3 + 0.1 * 1.0 / 1.5],
        1.5: [0.5 + 0.2 * 0.5, 0.2 + 0.4 * 1.5 / 2.0, 0.4],
        2.0: [0.7, 0.6, 0.4 + 0.5 * 0.5 / 1.5],
    }
    for i, x in enumerate(band.x):
        mean, half = hand_interval(by_hand[x])
        assert band.mean[i] == pytest.approx(mean, rel=1e-12)
        assert band.half_width[i] == pytest.approx(half, rel=1e-9)


def test_table_row_mean_and_half_width(tmp_path, capsys):
    three_seeds(tmp_path / "sw")
    groups = seed_groups(load(tmp_path / "sw"))
    assert [g.n for g in groups] == [3] and groups[0].seeds == ["0", "1", "2"]
    keys, rows = seed_summary_rows(groups)
    row = rows[0]
    assert keys == [] and row["n_seeds"] == 3 and row["reached_target"] == 0
    acc_mean, acc_half = hand_interval([0.7, 0.8, 0.9])  # 0.8 ± 0.2484
    energy_mean, energy_half = hand_interval([2.0, 4.0, 3.0])  # 3 ± 2.484
    assert (row["final_accuracy"].mean, row["final_accuracy"].half_width) == pytest.approx((acc_mean, acc_half))
    assert (row["total_energy_j"].mean, row["total_energy_j"].half_width) == pytest.approx((energy_mean, energy_half))
    assert (row["wall_time_s"].mean, row["wall_time_s"].half_width) == pytest.approx(hand_interval([1.0, 2.0, 3.0]))
    assert row["rounds_to_target"].n == 0  # no seed reached 0.95

    text = seed_table(groups)
    assert "0.80 ± 0.25" in text and "3.0 ± 2.5" in text and "0/3" in text

    # python -m analysis prints the per-run table and then the per-group one; plot_sweep (which it
    # calls) writes the same numbers to seed_summary.csv
    assert main([str(tmp_path / "sw"), "--out", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert "0.80 ± 0.25" in out and "Student t" in out and "seed_summary.csv" in out
    with (tmp_path / "figs" / "seed_summary.csv").open(newline="") as fh:
        (csv_row,) = list(csv.DictReader(fh))
    assert csv_row["n_seeds"] == "3" and csv_row["seeds"] == "0 1 2"
    assert float(csv_row["final_accuracy_mean"]) == pytest.approx(acc_mean)
    assert float(csv_row["final_accuracy_ci95"]) == pytest.approx(acc_half)
    assert csv_row["rounds_to_target_mean"] == "" and csv_row["rounds_to_target_ci95"] == ""


def test_t_interval_edge_cases():
    assert t_interval([]).mean is None
    one = t_interval([0.7, None, float("nan")])
    assert (one.mean, one.half_width, one.n) == (0.7, None, 1)
    two = t_interval([1.0, 3.0])  # s = sqrt(2), t_{0.975,1} = 12.706
    assert two.half_width == pytest.approx(12.706204736174694 * math.sqrt(2) / math.sqrt(2))
    assert format_interval(one) == "0.7"
    assert format_interval(two) == "2 ± 13"
    assert format_interval(t_interval([1e-5, 2e-5, 3e-5])) == "2e-05 ± 2.5e-05"


def test_one_seed_group_gets_no_band_and_mixed_groups_work(tmp_path, png_ok):
    root = tmp_path / "sw"
    three_seeds(root, train_bits=4)
    write_seed_run(root / "3", 0, [0.2, 0.7, 0.85], [0.0, 1.0, 2.0], train_bits=8)
    groups = seed_groups(load(root))
    assert [(g.label, g.n) for g in groups] == [("train_bits=4", 3), ("train_bits=8", 1)]
    single = band_vs_rounds(groups[1].runs)
    assert single.n == 1 and np.isnan(single.half_width).all()
    assert single.mean.tolist() == [0.2, 0.7, 0.85]

    fig, ax = plt.subplots()
    try:
        banded = _draw_group(ax, groups[0], band_vs_rounds(groups[0].runs), "C0", lambda r: r.round_index, False)
        assert isinstance(banded, tuple) and len(ax.collections) == 1  # the shaded band
        plain = _draw_group(ax, groups[1], single, "C1", lambda r: r.round_index, False)
        assert not isinstance(plain, tuple) and len(ax.collections) == 1  # no band added
        assert plain.get_ydata().tolist() == [0.2, 0.7, 0.85]
    finally:
        plt.close(fig)

    keys, rows = seed_summary_rows(groups)
    assert keys == ["op.train_bits"] and [r["n_seeds"] for r in rows] == [3, 1]
    assert rows[1]["final_accuracy"].half_width is None
    lines = seed_table(groups).splitlines()
    assert lines[-1].split()[:4] == ["8", "1", "0.85", "2"]  # n=1: values, no interval
    assert "±" not in lines[-1] and "±" in lines[-2]

    written = plot_sweep(root)
    for p in written[:2]:
        png_ok(p)
    with (root / "seed_summary.csv").open(newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert [r["op.train_bits"] for r in csv_rows] == ["4", "8"]
    assert csv_rows[1]["final_accuracy_ci95"] == "" and float(csv_rows[1]["final_accuracy_mean"]) == 0.85


def test_seeds_of_different_lengths_band_only_over_shared_rounds(tmp_path, png_ok):
    root = tmp_path / "sw"
    write_seed_run(root / "0", 0, [0.1, 0.5, 0.7, 0.8], [0.0, 1.0, 2.0, 3.0])
    write_seed_run(root / "1", 1, [0.2, 0.6, 0.8, 0.9], [0.0, 1.0, 2.0, 3.0])
    write_seed_run(root / "2", 2, [0.3, 0.96], [0.0, 1.2], target=0.95)  # stopped at the target
    (group,) = seed_groups(load(root))
    assert group.rounds_differ and group.legend_label() == "seeds 0,1,2 (n=3, band to round 1)"
    band = band_vs_rounds(group.runs)
    assert band.x.tolist() == [0.0, 1.0] and band.x_end == 1.0
    assert band.mean[1] == pytest.approx((0.5 + 0.6 + 0.96) / 3)
    assert band_vs_energy(group.runs).x_end == pytest.approx(1.2)
    written = plot_sweep(root)
    png_ok(written[1])


def test_no_seed_repeats_keeps_one_line_per_run(tmp_path, make_sweep):
    # seed varies, but every configuration ran once: the sweep is drawn as before (plot_sweep takes
    # the seed path exactly when seed_groups is not None; its one-line-per-run figures and
    # sweep_summary.csv are checked in test_analysis_plots.py)
    make_sweep(tmp_path / "a", [{"train_bits": 4, "seed": 0}, {"train_bits": 8, "seed": 1}])
    assert seed_groups(load(tmp_path / "a")) is None
    # seed fixed, other keys varying: no grouping either
    make_sweep(tmp_path / "b", [{"train_bits": 4}, {"train_bits": 8}])
    assert seed_groups(load(tmp_path / "b")) is None
