"""WirelessStrategy only filters and decodes: a wrapped Flower strategy aggregates exactly what the
same Flower strategy, unwrapped, aggregates from the plain replies it would get without a radio.

For every synchronous Flower strategy of fedsim's registry, the same delivered updates go two ways:

- through the wrapper's own path: ``WirelessStrategy._inner_content`` (the inner strategy's
  ``configure_train``, which stores the current global model where a strategy needs it) and
  ``WirelessStrategy._aggregate`` (``flower_replies`` built from the decoded ``ClientUpdate``s,
  the inner ``aggregate_train`` under ``seeded_globals``, ``conformed`` to the global record);
- the plain Flower way, built here by hand: a second, independently built instance of the same
  strategy, its ``configure_train`` called with the same global model, and ``aggregate_train`` on
  Messages carrying ``{"arrays": ArrayRecord(local weights), "metrics": MetricRecord}``.

The two aggregates must be bitwise equal, over two rounds (so the strategies' state carried between
rounds, e.g. FedAvgM's momentum, FedAdam's moments or the adaptive DP clipping norm, is covered).
Strategies that draw from numpy's global generator (the DP noise) are compared under the same
``seeded_globals`` stream, and two wrapped runs must agree with each other.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAvg, Strategy
from flwr.supercore.task_identity import TaskIdentity

import fedsim
from fedsim.federation._inner_state import seeded_globals
from fedsim.federation._wireless import WirelessStrategy, quiet_flower_log
from fedsim.strategies import STRATEGY_NAMES, ClientUpdate, UpdateStrategy, build_strategy, flower_sampling, strategy_module
from fedsim.tasks import build_task

NUM_DEVICES = 12
K = 11  # devices per round: enough for Krum and Bulyan with their default f = 1 (Bulyan needs 4f + 3)
ROUNDS = (1, 2)

RANDOMIZED = ("dp_fixed", "dp_adaptive")  # they draw their noise from numpy's global generator


def run_config(name: str) -> fedsim.RunConfig:
    return fedsim.RunConfig.from_mapping({
        "world": {"num_devices": NUM_DEVICES},
        "op": {"devices_per_round": K},
        "model": {"hidden": [8]},
        "strategy": {"name": name},
    })


@pytest.fixture(autouse=True)
def _task_identity(monkeypatch):
    """Flower's Messages need the process's task identity, which a ServerApp's runtime sets."""
    for attribute in ("_run_id", "_node_id", "_task_id"):
        monkeypatch.setattr(TaskIdentity, attribute, 1)


@pytest.fixture(autouse=True)
def _no_forced_gc(monkeypatch):
    """Flower's ``ArrayRecord.to_numpy_ndarrays(keep_input=False)`` (Bulyan's and q-FedAvg's
    reply reading) forces a full ``gc.collect()`` per reply, ~0.2 s each with torch loaded. It
    frees memory and changes no number; skipping it keeps this file fast."""
    module = importlib.import_module("flwr.app.message.arrayrecord")
    monkeypatch.setattr(module, "gc", SimpleNamespace(collect=lambda *args: 0), raising=False)


@pytest.fixture(scope="module")
def task():
    return build_task(run_config("fedavg"))


def build(name: str):
    cfg = run_config(name)
    with quiet_flower_log():
        return build_strategy(name, cfg.strategy.params, cfg), cfg


# Every synchronous strategy whose server side is one of Flower's (fedsim's own, e.g. ``fedavg``,
# are UpdateStrategy objects that see the decoded deltas, not Flower replies).
SYNCHRONOUS = tuple(name for name in STRATEGY_NAMES if not strategy_module(name).ASYNCHRONOUS)
FLOWER_STRATEGIES = tuple(name for name in SYNCHRONOUS if isinstance(build(name)[0], Strategy))


def test_the_parametrization_covers_every_synchronous_flower_strategy():
    assert set(FLOWER_STRATEGIES) >= {
        "fedavgm", "fedprox", "fedadam", "fedyogi", "fedadagrad", "fedmedian", "fedtrimmedavg",
        "krum", "multikrum", "bulyan", "qfedavg", "dp_fixed", "dp_adaptive",
    }
    assert "fedavg" in SYNCHRONOUS and "fedavg" not in FLOWER_STRATEGIES
    assert all(isinstance(build(name)[0], UpdateStrategy) for name in set(SYNCHRONOUS) - set(FLOWER_STRATEGIES))


def synthetic_updates(task, server_round: int) -> list[ClientUpdate]:
    """K delivered, decoded updates: float32 deltas, varying example counts and losses; device 0
    sends a large (Byzantine-looking) update, so that the robust rules have something to reject
    and DP clipping has something to clip."""
    rng = np.random.default_rng(1000 + server_round)
    shapes = task.update_shapes
    updates = []
    for device in range(K):
        scale = 1.0 if device == 0 else 0.02 + 0.005 * device
        delta = [(scale * rng.standard_normal(shape)).astype(np.float32) for shape in shapes]
        num_examples = int(rng.integers(20, 200))
        train_loss = float(rng.uniform(0.5, 2.5))
        metrics = {
            "num-examples": num_examples,
            "train-loss": train_loss,
            "loss-at-global": float(rng.uniform(1.0, 3.0)),  # q-FedAvg's F_k(w^t)
            "device": device,
        }
        updates.append(ClientUpdate(device, delta, float(num_examples), train_loss, metrics))
    return updates


def plain_replies(global_arrays: ArrayRecord, keys, updates: list[ClientUpdate]) -> list[Message]:
    """The replies a plain Flower ClientApp sends: its local model's weights and its metrics."""
    replies = []
    for u in updates:
        delta = dict(zip(keys, u.update))
        local = {}
        for key in global_arrays.keys():
            weights = np.array(global_arrays[key].numpy(), copy=True)
            if key in delta:
                weights += delta[key]  # float32 += float32: the local model after training
            local[key] = Array(weights)
        content = RecordDict({"arrays": ArrayRecord(local), "metrics": MetricRecord(dict(u.metrics))})
        replies.append(Message(content, dst_node_id=0, message_type=MessageType.TRAIN))
    return replies


class _Nodes:
    """The smallest grid a Flower strategy's configure_train needs: it lists the nodes."""

    def get_node_ids(self):
        return list(range(1, NUM_DEVICES + 1))


def numpy_of(record: ArrayRecord) -> dict[str, np.ndarray]:
    return {k: np.array(v.numpy(), copy=True) for k, v in record.items()}


def run_wrapped(name: str, task) -> list[dict[str, np.ndarray]]:
    """Two rounds through WirelessStrategy's own path; the global model after each."""
    inner, _ = build(name)
    wrapper = WirelessStrategy(inner, task, world=None, policy=None)
    wrapper.node_of_device = {i: i + 1 for i in range(NUM_DEVICES)}
    arrays, out = task.initial_record(), []
    for server_round in ROUNDS:
        before = numpy_of(arrays)
        updates = synthetic_updates(task, server_round)
        wrapper._inner_content(server_round, arrays, ConfigRecord())
        new, _ = wrapper._aggregate(server_round, arrays, updates)
        assert new is not None, f"{name} declined to aggregate {K} updates"
        after = numpy_of(arrays)
        assert all(np.array_equal(before[k], after[k]) for k in before), f"{name}: the global record was modified"
        fresh = synthetic_updates(task, server_round)
        assert all(np.array_equal(a, b) for u, v in zip(updates, fresh) for a, b in zip(u.update, v.update)), f"{name}: an update was modified"
        out.append(numpy_of(new))
        arrays = new
    return out


def run_plain(name: str, task, seed: int, start_from: list[dict[str, np.ndarray]]) -> list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """Two rounds of the unwrapped Flower strategy on hand-built replies, each round starting from
    the same global model as the wrapped run's (``start_from``: its globals after each round). Per
    round: Flower's raw aggregate and that aggregate in the global record's dtypes."""
    strategy, _ = build(name)
    initial = task.initial_record()
    globals_in = [initial] + [ArrayRecord({k: Array(v) for k, v in g.items()}) for g in start_from[:-1]]
    out = []
    for server_round, arrays in zip(ROUNDS, globals_in):
        with quiet_flower_log():
            list(strategy.configure_train(server_round, arrays, ConfigRecord(), _Nodes()))
        replies = plain_replies(arrays, task.update_keys, synthetic_updates(task, server_round))
        with seeded_globals(seed, "strategy-aggregate", server_round), quiet_flower_log():
            new, _ = strategy.aggregate_train(server_round, replies)
        assert new is not None, f"Flower's {name} declined to aggregate {K} updates"
        raw = numpy_of(new)
        assert list(raw) == list(initial.keys())
        like = {k: initial[k].numpy().dtype for k in initial.keys()}
        out.append((raw, {k: v.astype(like[k], copy=False) for k, v in raw.items()}))
    return out


@pytest.mark.parametrize("name", FLOWER_STRATEGIES)
def test_wrapped_flower_strategy_aggregates_exactly_what_flower_aggregates(name, task):
    assert not isinstance(build(name)[0], UpdateStrategy)
    wrapped = run_wrapped(name, task)
    plain = run_plain(name, task, task.config.seed, wrapped)
    initial = task.initial_record()
    for server_round, got, (raw, expected) in zip(ROUNDS, wrapped, plain):
        assert list(got) == list(initial.keys())
        for key in initial.keys():
            assert got[key].dtype == initial[key].numpy().dtype, (name, server_round, key)
            assert got[key].shape == initial[key].numpy().shape, (name, server_round, key)
            # Flower's FedAdam and q-FedAvg return float64 (numpy float64 scalars promote the
            # float32 weights); the wrapper conforms the aggregate to the global record's float32,
            # so it is compared with Flower's aggregate cast the same way (a no-op for the others).
            assert raw[key].dtype in (got[key].dtype, np.float64), (name, server_round, key, raw[key].dtype)
            assert np.array_equal(got[key], expected[key]), f"{name}, round {server_round}, {key}: wrapped != Flower"
    # the aggregation moved the model (no silent pass-through of the global record)
    assert any(not np.array_equal(wrapped[0][k], initial[k].numpy()) for k in initial.keys())


@pytest.mark.parametrize("name", FLOWER_STRATEGIES)
def test_wrapped_aggregation_is_deterministic(name, task):
    first, second = run_wrapped(name, task), run_wrapped(name, task)
    for a, b in zip(first, second):
        assert all(np.array_equal(a[k], b[k]) for k in a), name


@pytest.mark.parametrize("name", RANDOMIZED)
def test_the_dp_comparison_depends_on_the_seed(name, task):
    """The DP aggregates are equal above because both sides draw the same noise, not because there
    is none: another seed's noise gives another aggregate."""
    wrapped = run_wrapped(name, task)
    other = run_plain(name, task, task.config.seed + 1, wrapped)
    assert not all(np.array_equal(wrapped[0][k], other[0][1][k]) for k in wrapped[0])


def test_fedsim_fedavg_agrees_with_flower_fedavg_to_float32_rounding(task):
    """fedsim's own ``fedavg`` (ExactFedAvg, an UpdateStrategy) against Flower's FedAvg.

    Not bitwise: fedsim averages the decoded deltas Δ in float64 and adds the mean to the global
    model once, while Flower averages the local models ``global + Δ`` in float32 (each already
    rounded to float32 on the client). The two agree to float32 rounding of the weights."""
    cfg = run_config("fedavg")
    inner = build_strategy("fedavg", cfg.strategy.params, cfg)
    assert isinstance(inner, UpdateStrategy)
    wrapper = WirelessStrategy(inner, task, world=None, policy=None)
    wrapper.node_of_device = {i: i + 1 for i in range(NUM_DEVICES)}
    arrays = task.initial_record()
    updates = synthetic_updates(task, 1)
    wrapper._inner_content(1, arrays, ConfigRecord())
    new, _ = wrapper._aggregate(1, arrays, updates)

    with quiet_flower_log():
        flower = FedAvg(**flower_sampling())
        list(flower.configure_train(1, arrays, ConfigRecord(), _Nodes()))
        expected, _ = flower.aggregate_train(1, plain_replies(arrays, task.update_keys, updates))

    assert list(new.keys()) == list(arrays.keys())
    for key in arrays.keys():
        got, want = new[key].numpy(), expected[key].numpy()
        assert got.dtype == arrays[key].numpy().dtype
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=key)
