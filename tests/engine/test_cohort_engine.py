"""The cohort engine (``engine=cohort``) against the sequential in-process engine, its reference:
the same local updates (float64, within 1e-5 relative: ``cohort_max_rel_diff``), the same World
outcomes in a run, determinism per seed, and the one-line fallback."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

import fedsim
from fedsim.tasks import build_task
from fedsim.tasks._cohort_training import float64_equivalence, max_rel_diff


def _float64_updates(model_name: str, devices: list[int], *, iterations: int, bits: int, rounding: str, extra=()):
    """(cohort, sequential) float64 updates and losses of ``devices`` from the seeded model."""
    task = build_task(fedsim.compose([f"model={model_name}", "world.num_devices=20", *extra]))
    out = float64_equivalence(task, devices, 1, train_bits=bits, iterations=iterations, rounding=rounding)
    return out["cohort_updates"], out["sequential_updates"], out["cohort_losses"], out["sequential_losses"], out["num_examples"]


@pytest.mark.parametrize(
    ("model_name", "devices", "bits", "rounding"),
    [
        ("mlp", [0, 3, 5, 19], 8, "stochastic"),  # 72, 72, 72 and 71 examples: two stacks
        ("mlp", [2, 19], 3, "stochastic"),
        ("mlp", [4, 19], 8, "nearest"),
        ("cnn", [1, 19], 8, "stochastic"),
    ],
)
def test_cohort_updates_match_the_sequential_engine_in_float64(model_name, devices, bits, rounding):
    cohort, sequential, losses, sequential_losses, sizes = _float64_updates(model_name, devices, iterations=5, bits=bits, rounding=rounding)
    assert len(set(sizes)) == 2  # clients of different batch sequences (the last batch of a pass)
    _assert_equivalent(cohort, sequential, losses, sequential_losses)


def test_non_iid_partitions_of_very_different_sizes_stack_padded_and_still_match():
    devices = [0, 1, 2, 3, 4, 5]
    cohort, sequential, losses, sequential_losses, sizes = _float64_updates(
        "mlp", devices, iterations=5, bits=8, rounding="stochastic", extra=["partition.kind=dirichlet", "partition.alpha=0.3"]
    )
    assert max(sizes) > 2 * min(sizes) and len({n % 32 for n in sizes}) > 2  # last batches padded by many rows
    _assert_equivalent(cohort, sequential, losses, sequential_losses)


def _assert_equivalent(cohort, sequential, losses, sequential_losses):
    assert all(max(float(np.abs(a).max()) for a in update) > 1e-3 for update in sequential)  # they trained
    cohort_max_rel_diff = max_rel_diff(cohort, sequential)
    assert cohort_max_rel_diff <= 1e-5
    np.testing.assert_allclose(losses, sequential_losses, rtol=1e-12)
    # Another client's noise and batches would not pass: the comparison can fail.
    assert max_rel_diff(cohort[::-1], sequential) > 1e-2


@pytest.mark.slow
def test_cohort_updates_of_qcnn5_with_batchnorm_match_in_float64():
    cohort, sequential, losses, sequential_losses, _ = _float64_updates("qcnn5", [0, 19], iterations=3, bits=8, rounding="stochastic")
    assert max_rel_diff(cohort, sequential) <= 1e-5  # BatchNorm running statistics included
    np.testing.assert_allclose(losses, sequential_losses, rtol=1e-12)


LEARNING = {"train_loss": 1e-5, "test_loss": 1e-3, "test_accuracy": 1e-2}  # column -> relative tolerance


def _ledger(out) -> dict[str, list[dict[str, str]]]:
    return {name: list(csv.DictReader(io.StringIO((out / name).read_text()))) for name in ("rounds.csv", "devices.csv")}


@pytest.mark.parametrize("extra", [[], ["faults.client_crash_prob=0.3", "faults.nonfinite_prob=0.2"]], ids=["plain", "faults"])
def test_a_cohort_run_has_the_sequential_runs_world_and_is_deterministic(tmp_path, extra):
    overrides = ["rounds=2", "world.num_devices=10", "op.devices_per_round=4", "train.rounding=stochastic", *extra]
    fedsim.run(fedsim.compose(overrides), tmp_path / "sequential")
    fedsim.run(fedsim.compose([*overrides, "engine=cohort"]), tmp_path / "cohort")
    fedsim.run(fedsim.compose([*overrides, "engine=cohort"]), tmp_path / "again")
    for name in ("rounds.csv", "devices.csv", "summary.json"):
        if name != "summary.json":
            assert (tmp_path / "cohort" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    sequential, cohort = _ledger(tmp_path / "sequential"), _ledger(tmp_path / "cohort")
    for name in sequential:
        assert len(cohort[name]) == len(sequential[name]) > 1
        for ours, theirs in zip(cohort[name], sequential[name]):
            # Selected devices, energies, times, drops, payloads: the same bytes. The float32
            # learning columns carry the batched kernels' rounding.
            assert {k: v for k, v in ours.items() if k not in LEARNING} == {k: v for k, v in theirs.items() if k not in LEARNING}
            for key, rel in LEARNING.items():
                if theirs.get(key):
                    assert float(ours[key]) == pytest.approx(float(theirs[key]), rel=rel)
    if extra:
        reasons = {row["drop_reason"] for row in sequential["devices.csv"]}
        assert "client_error" in reasons  # the crash path was exercised


def test_a_model_that_cannot_train_as_a_cohort_says_so_once_and_runs_sequentially(tmp_path, capfd):
    overrides = ["rounds=2", "world.num_devices=6", "op.devices_per_round=3", "train.optimizer=adamw"]
    fedsim.run(fedsim.compose(overrides), tmp_path / "sequential")
    capfd.readouterr()
    fedsim.run(fedsim.compose([*overrides, "engine=cohort"]), tmp_path / "cohort")
    lines = [line for line in capfd.readouterr().err.splitlines() if "engine=cohort" in line]
    assert lines == ["fedsim: engine=cohort: model mlp cannot be vmapped (train.optimizer=adamw (the cohort engine steps SGD with momentum only)); its clients train sequentially"]
    for name in ("rounds.csv", "devices.csv"):
        assert (tmp_path / "cohort" / name).read_bytes() == (tmp_path / "sequential" / name).read_bytes()


# -- the stacked route: every built-in model but the LSTM, without torch.func -----------------

@pytest.mark.parametrize("model_name", ["resnet8", "cifar_cnn"])
def test_the_stacked_route_matches_the_sequential_engine_for_conv_and_groupnorm_models(model_name):
    from fedsim.tasks._cohort_training import STACKED, cohort_route

    task = build_task(fedsim.compose([f"model={model_name}", "world.num_devices=20"]))
    assert cohort_route(task.new_model()) == STACKED
    out = float64_equivalence(task, [1, 19], 1, train_bits=8, iterations=2, rounding="stochastic")
    assert max_rel_diff(out["cohort_updates"], out["sequential_updates"]) <= 1e-5
    np.testing.assert_allclose(out["cohort_losses"], out["sequential_losses"], rtol=1e-12)


def _float64_task_and_data(devices):
    from fedsim.tasks._cohort_training import _Float64Data

    task = build_task(fedsim.compose(["world.num_devices=20", "model.hidden=[16]"]))
    return task, [_Float64Data(task.device_data(d)) for d in devices]


def test_fedprox_and_scaffold_client_sides_train_stacked_as_one_by_one():
    import torch

    from fedsim.tasks._cohort_training import train_cohort
    from fedsim.tasks._local_training import train_locally

    devices = [0, 7, 19]
    task, datasets = _float64_task_and_data(devices)
    base = task.new_model().double()
    names = [n for n, _ in base.named_parameters()]
    rng = np.random.default_rng(3)
    corrections = [{n: torch.from_numpy(rng.standard_normal(p.shape) * 0.05) for n, p in base.named_parameters()} for _ in devices]
    settings = dict(iterations=4, batch_size=32, lr=0.1, momentum=0.9, train_bits=8, rounding="stochastic", proximal_mu=0.5)
    sequential, sums = [], []
    for d, data, correction in zip(devices, datasets, corrections):
        import copy

        model, gradient_sum = copy.deepcopy(base), {}
        train_locally(model, data, generator=task._local_stream(d, 1), gradient_correction=correction, gradient_sum=gradient_sum, **settings)
        sequential.append([model.state_dict()[n].numpy() for n in names])
        sums.append([gradient_sum[n].numpy() for n in names])
    stacked = {n: torch.stack([c[n] for c in corrections]) for n in names}
    trained = train_cohort(copy.deepcopy(base), datasets, generators=[task._local_stream(d, 1) for d in devices],
                           corrections=stacked, gradient_sums=True, **settings)
    start = [base.state_dict()[n].numpy() for n in names]
    cohort_updates = [[trained.states[n][j].numpy() - s for n, s in zip(names, start)] for j in range(len(devices))]
    sequential_updates = [[a - s for a, s in zip(update, start)] for update in sequential]
    assert max_rel_diff(cohort_updates, sequential_updates) <= 1e-9
    assert max_rel_diff([[trained.gradient_sums[n][j].numpy() for n in names] for j in range(len(devices))], sums) <= 1e-9
    assert max_rel_diff(cohort_updates[::-1], sequential_updates) > 1e-2  # another client's draws would not pass


def test_a_cohort_larger_than_the_memory_budget_trains_in_chunks_with_the_same_updates(monkeypatch):
    import copy

    from fedsim.tasks import _cohort_training

    devices = [0, 3, 5, 19]
    task, datasets = _float64_task_and_data(devices)
    base = task.new_model().double()
    settings = dict(iterations=3, batch_size=32, lr=0.1, momentum=0.9, train_bits=8, rounding="stochastic")

    def trained():
        out = _cohort_training.train_cohort(copy.deepcopy(base), datasets, generators=[task._local_stream(d, 1) for d in devices], **settings)
        return [[v[j].numpy() for v in out.states.values()] for j in range(len(devices))], out.losses

    whole, losses = trained()
    monkeypatch.setattr(_cohort_training, "COHORT_MEMORY_BYTES", 1)  # one client per chunk
    chunked, chunked_losses = trained()
    assert max_rel_diff(chunked, whole) <= 1e-12 and chunked_losses == pytest.approx(losses, rel=1e-12)


def test_a_cohort_run_never_imports_torch_dynamo(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, fedsim\n"
        f"fedsim.run(fedsim.compose(['rounds=1', 'world.num_devices=6', 'op.devices_per_round=4', 'engine=cohort']), {str(tmp_path / 'run')!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo'))[:3])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_bulk_replies_are_the_one_by_one_replies_byte_for_byte():
    from fedsim.config import OperatingPoint
    from fedsim.federation.client_app import TrainRequest, train_replies, train_reply
    from fedsim.tasks import ClientSide

    task = build_task(fedsim.compose(["world.num_devices=10", "faults.byzantine_prob=0.5", "faults.nonfinite_prob=0.3", "seed=4"]))
    record = task.initial_record()
    op = OperatingPoint(train_bits=8, uplink_bits=5, local_iters=2, devices_per_round=10)
    requests = [TrainRequest(d, 2, op, task.config.faults.draw(4, 2, d), ClientSide(), record) for d in range(10)]
    assert {r.faults.byzantine for r in requests} == {True, False} and any(r.faults.nonfinite for r in requests)
    results = task.local_updates(record, [r.device for r in requests], 2, requests[0].op)
    bulk = train_replies(task, requests, results)
    for ours, request, result in zip(bulk, requests, results):
        theirs = train_reply(task, request, result)
        assert dict(ours["metrics"]) == dict(theirs["metrics"])
        for key in ("codes", "scales"):
            assert ours["update"][key].data == theirs["update"][key].data


@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
def test_the_probe_trains_the_built_in_models_by_the_stacked_route(model_name):
    # The probe falls back to torch.func silently when the stacked route errs (e.g. autograd
    # refusing a tensor the in-place rounding wrote): the fast route must be the one chosen.
    from fedsim.tasks._cohort_training import STACKED, cohort_route

    task = build_task(fedsim.compose([f"model={model_name}", "world.num_devices=20"]))
    assert task.cohort_unsupported() is None
    assert cohort_route(task.scratch_model) == STACKED


def _cohort_updates(task, devices, base, **settings):
    import copy

    from fedsim.tasks._cohort_training import train_cohort

    out = train_cohort(copy.deepcopy(base), [task.device_data(d) for d in devices],
                       generators=[task._local_stream(d, 1) for d in devices], **settings)
    return [[v[j].numpy().copy() for v in out.states.values()] for j in range(len(devices))], out.losses


def test_a_reused_noise_buffer_left_dirty_gives_the_same_updates():
    # The stacked twin keeps its noise buffer between rounds; a shorter batch's padding columns
    # must be zeroed, not left with an earlier round's draws (NaN here would reach the loss).
    import torch

    from fedsim.tasks._stacked_model import stacked_twin

    task = build_task(fedsim.compose(["world.num_devices=100", "model.hidden=[16]"]))
    sizes = {d: task.num_examples(d) for d in range(100)}
    devices = [d for d in sizes if sizes[d] == max(sizes.values())][:2] + [d for d in sizes if sizes[d] < max(sizes.values())][:2]
    assert len(devices) == 4 and max(sizes.values()) < 32  # every step's batch is a whole partition: padded from step 1
    base = task.new_model()
    settings = dict(iterations=3, batch_size=32, lr=0.1, momentum=0.9, train_bits=8, rounding="stochastic")
    clean, clean_losses = _cohort_updates(task, devices, base, **settings)
    model = task.new_model()
    model.load_state_dict(base.state_dict())
    twin = stacked_twin(model)
    twin.scratch((len(devices), 1 << 16), torch.float32).fill_(float("nan"))
    from fedsim.tasks._cohort_training import train_cohort

    out = train_cohort(model, [task.device_data(d) for d in devices], generators=[task._local_stream(d, 1) for d in devices], **settings)
    assert out.losses == clean_losses
    for j, theirs in enumerate(clean):
        assert all(np.array_equal(v[j].numpy(), b) for v, b in zip(out.states.values(), theirs))


def _padded_cohort():
    """A function training one cohort of two devices with the largest partition and two with
    smaller ones (every step padded) from the same model: (updates, losses)."""
    task = build_task(fedsim.compose(["world.num_devices=100", "model.hidden=[16]"]))
    sizes = {d: task.num_examples(d) for d in range(100)}
    largest = max(sizes.values())
    devices = [d for d in sizes if sizes[d] == largest][:2] + [d for d in sizes if sizes[d] < largest][:2]
    base = task.new_model()
    return lambda: _cohort_updates(task, devices, base, iterations=4, batch_size=32, lr=0.1, momentum=0.9, train_bits=8,
                                   rounding="stochastic")


def test_drawing_the_next_step_ahead_on_a_second_thread_gives_the_same_updates(monkeypatch):
    # Above DRAW_AHEAD_VALUES on two or more cores, step i+1's batches and noise are drawn on
    # another thread while step i computes, into a second buffer: the same values, in order.
    from fedsim.tasks import _cohort_training

    train = _padded_cohort()
    monkeypatch.setattr(_cohort_training, "cpu_share", lambda: 1)
    inline, inline_losses = train()
    ahead_steps = []
    original = _cohort_training._DrawsAhead.step
    monkeypatch.setattr(_cohort_training._DrawsAhead, "step", lambda self, i: ahead_steps.append(i) or original(self, i))
    monkeypatch.setattr(_cohort_training, "cpu_share", lambda: 2)
    monkeypatch.setattr(_cohort_training, "DRAW_AHEAD_VALUES", 0)
    ahead, ahead_losses = train()
    assert ahead_steps == [0, 1, 2, 3]  # the route ran
    assert ahead_losses == inline_losses
    for mine, theirs in zip(ahead, inline, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))


def test_a_draw_that_fails_on_the_drawing_thread_fails_the_cohort_and_the_next_one_is_clean(monkeypatch):
    from fedsim.tasks import _cohort_training

    train = _padded_cohort()
    monkeypatch.setattr(_cohort_training, "cpu_share", lambda: 2)
    monkeypatch.setattr(_cohort_training, "DRAW_AHEAD_VALUES", 0)
    clean, clean_losses = train()
    original = _cohort_training._StepDraws.draw

    def failing(self, i, noise, clients):
        if i == 2:
            raise RuntimeError("the generator broke at step 2")
        return original(self, i, noise, clients)

    monkeypatch.setattr(_cohort_training._StepDraws, "draw", failing)
    with pytest.raises(RuntimeError, match="broke at step 2"):
        train()
    monkeypatch.setattr(_cohort_training._StepDraws, "draw", original)
    again, again_losses = train()
    assert again_losses == clean_losses
    for mine, theirs in zip(again, clean, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
