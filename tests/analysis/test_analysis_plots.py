import csv

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis import LedgerError, find_runs, load_run, plot_path, plot_run, plot_sweep
from analysis._plot_common import use_log_energy


SWEEP_OPS = [
    {"train_bits": t, "uplink_bits": u} for t in (4, 8, 32) for u in (2, 8)
]


def _read_csv(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_plot_run_writes_pngs(tmp_path, make_run, png_ok, no_temp_files):
    run_dir = make_run(tmp_path / "run", train_bits=8, n_rounds=40)
    written = plot_run(run_dir)
    assert [p.name for p in written] == ["accuracy_vs_rounds.png", "accuracy_vs_energy.png"]
    for p in written:
        assert p.parent == run_dir
        png_ok(p)
    no_temp_files(run_dir)
    assert plt.get_fignums() == []


def test_plot_run_out_dir_and_overwrite(tmp_path, make_run, png_ok, no_temp_files):
    run_dir = make_run(tmp_path / "run", target=None, eval_every=5)
    out = tmp_path / "figs" / "deeper"
    (out).mkdir(parents=True)
    (out / "accuracy_vs_energy.png").write_bytes(b"stale")
    written = plot_run(str(run_dir), out_dir=str(out))
    assert {p.parent for p in written} == {out}
    for p in written:
        png_ok(p)
    assert not (run_dir / "accuracy_vs_rounds.png").exists()
    no_temp_files(out)


def test_plot_run_refuses_header_only_csv(tmp_path):
    # a run with no rounds is an interrupted or damaged one: no figure of nothing
    d = tmp_path / "r"
    d.mkdir()
    (d / "rounds.csv").write_text("round,energy_cum_j,test_accuracy\n")
    (d / "summary.json").write_text('{"target_accuracy": null}')
    with pytest.raises(LedgerError, match="has a header but no rounds"):
        plot_run(d)
    assert not list(d.glob("*.png"))


def test_use_log_energy_threshold():
    assert not use_log_energy([np.array([0.0, 10.0, 100.0, 999.0])])
    assert use_log_energy([np.array([0.0, 1.0, 50.0]), np.array([200.0])])
    assert not use_log_energy([np.array([np.nan, 0.0])])
    assert not use_log_energy([])


def test_plot_sweep_outputs(tmp_path, make_sweep, png_ok, no_temp_files):
    sweep = tmp_path / "multirun"
    make_sweep(sweep, SWEEP_OPS, nested=True)
    written = plot_sweep(sweep)
    assert [p.name for p in written] == ["tradeoff.png", "accuracy_vs_rounds.png", "sweep_summary.csv"]
    assert all(p.parent == sweep for p in written)
    png_ok(sweep / "tradeoff.png")
    png_ok(sweep / "accuracy_vs_rounds.png")
    rows = _read_csv(sweep / "sweep_summary.csv")
    assert len(rows) == len(SWEEP_OPS)
    assert list(rows[0]) == [
        "op.train_bits", "op.uplink_bits", "final_accuracy", "total_energy_j",
        "rounds_to_target", "energy_to_target_j", "path",
    ]
    runs = [load_run(p) for p in find_runs(sweep)]
    for row, op, run in zip(rows, SWEEP_OPS, runs):
        assert row["op.train_bits"] == str(op["train_bits"])
        assert row["op.uplink_bits"] == str(op["uplink_bits"])
        assert float(row["final_accuracy"]) == pytest.approx(run.summary["final_accuracy"])
        assert float(row["total_energy_j"]) == pytest.approx(run.summary["total_energy_j"])
        if run.summary["rounds_to_target"] is None:
            assert row["rounds_to_target"] == "" and row["energy_to_target_j"] == ""
        else:
            assert int(row["rounds_to_target"]) == run.summary["rounds_to_target"]
        assert (sweep / row["path"]) .resolve() == run.path.resolve()
    assert rows[0]["path"] == "2024-05-01/12-00-00/0"
    # the 4-bit-training runs never reach the 0.8 target in this synthetic model
    assert any(r["rounds_to_target"] == "" for r in rows)
    no_temp_files(sweep)
    assert plt.get_fignums() == []


def test_plot_sweep_out_dir_and_single_run(tmp_path, make_sweep, png_ok):
    sweep = tmp_path / "one"
    make_sweep(sweep, [{"train_bits": 8}])
    out = tmp_path / "out"
    written = plot_sweep(sweep, out_dir=out)
    assert {p.parent for p in written} == {out}
    png_ok(out / "tradeoff.png")
    rows = _read_csv(out / "sweep_summary.csv")
    assert len(rows) == 1
    assert list(rows[0]) == [
        "final_accuracy", "total_energy_j", "rounds_to_target", "energy_to_target_j", "path",
    ]
    assert rows[0]["path"] == "0"


def test_plot_sweep_many_runs_and_mixed_targets(tmp_path, make_sweep, png_ok):
    ops = [{"train_bits": b, "target": 0.7 if b % 2 else 0.8, "n_rounds": 5} for b in range(1, 24)]
    sweep = tmp_path / "big"
    make_sweep(sweep, ops)
    plot_sweep(sweep)
    png_ok(sweep / "tradeoff.png")
    assert len(_read_csv(sweep / "sweep_summary.csv")) == 23


def test_plot_sweep_empty_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="no fedsim run under"):
        plot_sweep(tmp_path)


def test_plot_path_dispatches_to_run(tmp_path, make_run, png_ok):
    run_dir = make_run(tmp_path / "run")
    written = plot_path(run_dir)
    assert sorted(p.name for p in written) == ["accuracy_vs_energy.png", "accuracy_vs_rounds.png"]
    assert not (run_dir / "tradeoff.png").exists()
    for p in written:
        png_ok(p)


def test_plot_path_dispatches_to_sweep(tmp_path, make_sweep, png_ok, no_temp_files):
    make_sweep(tmp_path / "sw", SWEEP_OPS[:3], nested=True)
    written = plot_path(tmp_path / "sw")
    assert sorted(p.name for p in written) == [
        "accuracy_vs_rounds.png", "sweep_summary.csv", "tradeoff.png",
    ]
    png_ok(tmp_path / "sw" / "tradeoff.png")
    no_temp_files(tmp_path / "sw")


def test_plot_path_single_job_sweep(tmp_path, make_sweep, png_ok):
    make_sweep(tmp_path / "sw", [{}])
    written = plot_path(tmp_path / "sw")
    assert (tmp_path / "sw" / "tradeoff.png") in written
    png_ok(tmp_path / "sw" / "tradeoff.png")


def test_plot_path_empty_dir_raises_with_message(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "multirun.yaml").write_text("{}\n")
    with pytest.raises(FileNotFoundError) as err:
        plot_path(empty)
    assert str(err.value) == f"no fedsim run under {empty}: expected rounds.csv and summary.json"
    assert sorted(p.name for p in empty.iterdir()) == ["multirun.yaml"]


def test_plot_path_missing_dir_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected rounds.csv and summary.json"):
        plot_path(tmp_path / "does-not-exist")


def test_titles_name_the_scenario_and_what_it_sets_beyond_fedavg(tmp_path, make_run):
    from analysis import load_run
    from analysis._plot_common import op_title

    plain = load_run(make_run(tmp_path / "plain", n_rounds=2))
    assert op_title(plain) == "mnist / cnn | train 32-bit, uplink 32-bit, 5 local iters, 10 devices/round, seed 0"
    swarm = load_run(make_run(tmp_path / "swarm", n_rounds=2, extra_config={
        "scenario": {"name": "zeng2020_uav_swarm", "title": "UAV swarm"}, "policy": {"name": "swarm_baseline"},
        "strategy": {"name": "fedavg"}, "mobility": {"kind": "uav_swarm"}}))
    assert op_title(swarm) == ("zeng2020_uav_swarm: mnist / cnn, policy swarm_baseline | train 32-bit, uplink 32-bit, "
                               "5 local iters, 10 devices/round, seed 0")
    drones = load_run(make_run(tmp_path / "drones", n_rounds=2, extra_config={
        "strategy": {"name": "fedprox"}, "mobility": {"kind": "drone_routes"}, "handover": {"rule": "q_learning"}}))
    assert op_title(drones).startswith("mnist / cnn, strategy fedprox, handover q_learning | ")


def test_a_sweep_of_one_scenario_names_it_in_its_titles(tmp_path, make_run, monkeypatch):
    import analysis._sweep_plots as sweep_plots
    from analysis import plot_sweep

    for i in range(2):
        make_run(tmp_path / "sweep" / str(i), train_bits=8 * (i + 1), n_rounds=3,
                 extra_config={"scenario": {"name": "zeng2020_uav_swarm"}})
    titles = []
    original = sweep_plots._with_scenario
    monkeypatch.setattr(sweep_plots, "_with_scenario", lambda title, runs: titles.append(original(title, runs)) or titles[-1])
    plot_sweep(tmp_path / "sweep")
    assert titles == ["Energy-accuracy trade-off: zeng2020_uav_swarm", "Test accuracy vs rounds, all runs: zeng2020_uav_swarm"]


def test_a_drone_runs_plot_draws_serving_cells_handovers_and_failures(tmp_path, make_run, png_ok):
    from analysis import plot_run, read_drone_links

    run = make_run(tmp_path / "drones", n_rounds=3, extra_config={"mobility": {"kind": "drone_routes"}})
    assert read_drone_links(run) is None  # the synthetic devices.csv has no drone columns
    assert [p.name for p in plot_run(run)] == ["accuracy_vs_rounds.png", "accuracy_vs_energy.png"]
    lines = ["round,device,channel,serving_cell,handovers,rlf"]
    lines += [f"{r},{d},{d + r},{d + r},{(r + d) % 2},{int(r == 3 and d == 0)}" for r in (1, 2, 3) for d in (0, 1)]
    (run / "devices.csv").write_text("\n".join(lines) + "\n")
    links = read_drone_links(run)
    assert links["serving_cell"].tolist() == [1, 2, 2, 3, 3, 4] and links["handovers"].sum() == 3 and links["rlf"].sum() == 1
    written = plot_run(run)
    assert [p.name for p in written] == ["accuracy_vs_rounds.png", "accuracy_vs_energy.png", "drone_links.png"]
    png_ok(written[-1])
    (run / "devices.csv").write_text("round,device,serving_cell,handovers,rlf\n1,0,x,0,0\n")
    from analysis import LedgerError

    with pytest.raises(LedgerError, match=r"devices.csv line 2: serving_cell='x' is not an integer"):
        plot_run(run)
