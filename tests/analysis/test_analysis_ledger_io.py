import json
import math

import numpy as np
import pytest

from analysis import (
    LedgerError,
    RunData,
    find_runs,
    flatten_config,
    load_run,
    run_metrics,
    sweep_label,
    varying_keys,
)


def test_load_run_parses_columns(tmp_path, make_run):
    run_dir = make_run(tmp_path / "run", train_bits=8, n_rounds=10, eval_every=3)
    run = load_run(run_dir)
    assert isinstance(run, RunData)
    assert run.path == run_dir
    expected = {"round", "sim_time_s", "energy_compute_j", "energy_uplink_j", "energy_round_j",
                "energy_cum_j", "test_accuracy", "test_loss", "selected", "delivered"}
    assert expected <= set(run.rounds)
    for name in expected:
        arr = run.rounds[name]
        assert isinstance(arr, np.ndarray)
        assert arr.dtype == float
        assert arr.shape == (11,)
    np.testing.assert_array_equal(run.rounds["round"], np.arange(11.0))
    assert run.rounds["energy_cum_j"][0] == 0.0
    assert np.all(np.diff(run.rounds["energy_cum_j"]) >= 0)
    acc = run.rounds["test_accuracy"]
    # rounds 0, 3, 6, 9 and the last one are evaluated; the others are empty -> nan
    assert np.isfinite(acc[[0, 3, 6, 9, 10]]).all()
    assert np.isnan(acc[[1, 2, 4, 5, 7, 8]]).all()
    assert run.summary["op"]["train_bits"] == 8
    assert run.summary["rounds"] == 10
    assert run.config["op"]["train_bits"] == 8
    assert run.config["dataset"]["name"] == "mnist"
    assert isinstance(run.config, dict)


def test_load_run_non_numeric_and_empty_cells(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    (d / "rounds.csv").write_text(
        "round,test_accuracy,selected, note \n0,0.1,,start\n1,0.5,3,\n2,,4,x\n\n"
    )
    (d / "summary.json").write_text(json.dumps({"final_accuracy": 0.5}))
    run = load_run(d)
    assert set(run.rounds) == {"round", "test_accuracy", "selected", "note"}
    np.testing.assert_array_equal(run.rounds["round"], [0.0, 1.0, 2.0])
    assert np.isnan(run.rounds["test_accuracy"][2])
    assert np.isnan(run.rounds["selected"][0])
    assert run.rounds["note"].dtype.kind == "U"
    assert list(run.rounds["note"]) == ["start", "", "x"]
    assert run.config == {}


def test_load_run_refuses_ragged_rows(tmp_path):
    # fedsim writes every row whole: a short row is a file cut off or damaged, not data
    d = tmp_path / "r"
    d.mkdir()
    (d / "rounds.csv").write_text("round,test_accuracy,selected\n0,0.1,2\n1,0.5\n")
    (d / "summary.json").write_text(json.dumps({"final_accuracy": 0.5}))
    with pytest.raises(LedgerError, match="line 3 has 2 fields, the header 3"):
        load_run(d)


def test_load_run_hydra_config_fallback(tmp_path, make_run):
    d = make_run(tmp_path / "r", write_config=False)
    (d / ".hydra").mkdir()
    (d / ".hydra" / "config.yaml").write_text("op:\n  train_bits: 4\nseed: 3\n")
    assert load_run(d).config == {"op": {"train_bits": 4}, "seed": 3}


@pytest.mark.parametrize("missing", ["summary.json", "rounds.csv"])
def test_load_run_names_missing_file(tmp_path, make_run, missing):
    d = make_run(tmp_path / "r")
    (d / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing.replace(".", r"\.")):
        load_run(d)


def test_load_run_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path / "nope")


def test_energy_cum_fallback_from_per_round(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    (d / "rounds.csv").write_text("round,energy_round_j,test_accuracy\n0,0,0.1\n1,2,0.2\n2,3,0.3\n")
    (d / "summary.json").write_text("{}")
    run = load_run(d)
    np.testing.assert_allclose(run.energy_cum, [0, 2, 5])
    m = run_metrics(run)
    assert m["final_accuracy"] == pytest.approx(0.3)
    assert m["total_energy_j"] == pytest.approx(5.0)
    assert m["rounds"] == 2


def test_find_runs_discovers_nested_jobs(tmp_path, make_sweep, make_run):
    ops = [{"train_bits": b} for b in (2, 4, 8)]
    make_sweep(tmp_path / "flat", ops)
    make_sweep(tmp_path / "nested", ops, nested=True)
    # a crashed job with only rounds.csv is not a run
    broken = tmp_path / "nested" / "2024-05-01" / "12-00-00" / "3"
    broken.mkdir()
    (broken / "rounds.csv").write_text("round\n0\n")

    flat = find_runs(tmp_path / "flat")
    assert [p.name for p in flat] == ["0", "1", "2"]
    nested = find_runs(tmp_path / "nested")
    assert [p.relative_to(tmp_path / "nested").as_posix() for p in nested] == [
        "2024-05-01/12-00-00/0", "2024-05-01/12-00-00/1", "2024-05-01/12-00-00/2",
    ]
    # both sweeps from their common parent, deterministic
    both = find_runs(tmp_path)
    assert len(both) == 6
    assert both == find_runs(tmp_path)
    # a run dir is its own only run; missing dirs give nothing
    assert find_runs(flat[1]) == [flat[1]]
    assert find_runs(tmp_path / "missing") == []


def test_find_runs_numeric_order(tmp_path, make_run):
    for i in (0, 1, 2, 10, 11):
        make_run(tmp_path / str(i), n_rounds=2)
    assert [p.name for p in find_runs(tmp_path)] == ["0", "1", "2", "10", "11"]


def test_flatten_config():
    flat = flatten_config({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None, "f": {}})
    assert flat == {"a.b": 1, "a.c.d": [1, 2], "e": None, "f": {}}


def test_varying_keys_and_labels_single_key(tmp_path, make_sweep):
    dirs = make_sweep(tmp_path, [{"train_bits": b} for b in (4, 8, 16)])
    runs = [load_run(d) for d in dirs]
    # output_dir and hydra.job.num differ per job too, but are ignored
    assert varying_keys(runs) == ["op.train_bits"]
    assert sweep_label(runs) == ["op.train_bits=4", "op.train_bits=8", "op.train_bits=16"]
    # paths work as well as RunData
    assert sweep_label(dirs) == sweep_label(runs)


def test_labels_two_keys_in_config_order(tmp_path, make_sweep):
    ops = [{"train_bits": t, "uplink_bits": u, "seed": 1} for t in (4, 8) for u in (2, 4)]
    runs = [load_run(d) for d in make_sweep(tmp_path, ops, nested=True)]
    assert varying_keys(runs) == ["op.train_bits", "op.uplink_bits"]
    assert sweep_label(runs) == [
        "op.train_bits=4, op.uplink_bits=2",
        "op.train_bits=4, op.uplink_bits=4",
        "op.train_bits=8, op.uplink_bits=2",
        "op.train_bits=8, op.uplink_bits=4",
    ]


def test_labels_seed_and_float_values(tmp_path, make_sweep):
    ops = [
        {"seed": 0, "extra_config": {"channel": {"bandwidth_hz": 1.0e6}}},
        {"seed": 1, "extra_config": {"channel": {"bandwidth_hz": 2.5e5}}},
    ]
    runs = [load_run(d) for d in make_sweep(tmp_path, ops)]
    assert sweep_label(runs) == [
        "seed=0, channel.bandwidth_hz=1000000.0",
        "seed=1, channel.bandwidth_hz=250000.0",
    ]


def test_labels_ignore_path_like_values(tmp_path, make_sweep):
    ops = [
        {"train_bits": 4, "extra_config": {"logging": {"where": "/tmp/a"}}},
        {"train_bits": 8, "extra_config": {"logging": {"where": "/tmp/b"}}},
    ]
    runs = [load_run(d) for d in make_sweep(tmp_path, ops)]
    assert varying_keys(runs) == ["op.train_bits"]


def test_labels_key_missing_in_some_runs(tmp_path, make_sweep):
    ops = [{"extra_config": {"compress": {"topk": 0.1}}}, {}]
    runs = [load_run(d) for d in make_sweep(tmp_path, ops)]
    assert sweep_label(runs) == ["compress.topk=0.1", "compress.topk=-"]


def test_labels_without_config_use_summary_op(tmp_path, make_sweep):
    ops = [{"uplink_bits": u, "write_config": False} for u in (1, 2)]
    runs = [load_run(d) for d in make_sweep(tmp_path, ops)]
    assert all(r.config == {} for r in runs)
    assert sweep_label(runs) == ["op.uplink_bits=1", "op.uplink_bits=2"]


def test_labels_nothing_varies(tmp_path, make_sweep, make_run):
    runs = [load_run(d) for d in make_sweep(tmp_path / "s", [{}, {}])]
    assert varying_keys(runs) == []
    assert sweep_label(runs) == ["0", "1"]
    single = load_run(make_run(tmp_path / "only"))
    assert sweep_label([single]) == ["only"]


def test_labels_are_unique_for_duplicate_configs(tmp_path, make_run):
    a = load_run(make_run(tmp_path / "a" / "0", train_bits=4))
    b = load_run(make_run(tmp_path / "b" / "1", train_bits=4))
    c = load_run(make_run(tmp_path / "c" / "2", train_bits=8))
    labels = sweep_label([a, b, c])
    assert len(set(labels)) == 3
    assert labels[2] == "op.train_bits=8"
    assert labels[0].startswith("op.train_bits=4")


def test_run_metrics_from_summary(tmp_path, make_run):
    run = load_run(make_run(tmp_path / "r", train_bits=32, uplink_bits=32, n_rounds=30))
    m = run_metrics(run)
    assert m["final_accuracy"] == run.summary["final_accuracy"]
    assert m["total_energy_j"] == pytest.approx(run.rounds["energy_cum_j"][-1])
    assert m["rounds"] == 30
    assert m["target_accuracy"] == 0.8
    assert m["rounds_to_target"] is not None
    assert math.isfinite(m["energy_to_target_j"])
    assert m["seed"] == 0


def test_short_labels(tmp_path, make_sweep):
    from analysis._ledger_io import short_keys

    assert short_keys(["op.train_bits", "op.uplink_bits"]) == {
        "op.train_bits": "train_bits", "op.uplink_bits": "uplink_bits",
    }
    assert short_keys(["model.lr", "optim.lr", "seed"]) == {
        "model.lr": "model.lr", "optim.lr": "optim.lr", "seed": "seed",
    }
    assert short_keys(["a.b.lr", "c.b.lr"]) == {"a.b.lr": "a.b.lr", "c.b.lr": "c.b.lr"}
    runs = [load_run(d) for d in make_sweep(tmp_path, [{"train_bits": 4}, {"train_bits": 8}])]
    assert sweep_label(runs, short=True) == ["train_bits=4", "train_bits=8"]
