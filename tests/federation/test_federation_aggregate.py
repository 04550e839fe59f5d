
import numpy as np
import pytest
import torch
from run_helpers import tiny_overrides
from flwr.app import ConfigRecord, Message, MessageType, RecordDict

import fedsim
from fedsim.config import RunConfig
from fedsim.control import sample_devices
from fedsim.tasks import ClassifierTask, weighted_average
from fedsim.tasks._records import model_to_record, record_to_encoded
from fedsim.federation.client_app import local_update
from fedsim.uplink import decode_update


def test_weighted_average_matches_hand_computed_fedavg():
    updates = [[np.array([1.0, 2.0]), np.array([[0.0]])], [np.array([3.0, 6.0]), np.array([[4.0]])]]
    avg = weighted_average(updates, [10, 30])  # weights 1/4 and 3/4
    assert np.allclose(avg[0], [2.5, 5.0]) and np.allclose(avg[1], [[3.0]])
    with pytest.raises(ValueError):
        weighted_average(updates, [0, 0])


def test_sampling_is_seeded_without_replacement_and_ignores_global_random():
    import random

    random.seed(1)
    a = sample_devices(seed=3, server_round=5, available=range(50), k=10)
    random.seed(2)
    b = sample_devices(seed=3, server_round=5, available=range(50), k=10)
    assert np.array_equal(a, b) and len(set(a.tolist())) == 10
    assert not np.array_equal(a, sample_devices(seed=3, server_round=6, available=range(50), k=10))
    assert np.array_equal(sample_devices(seed=0, server_round=1, available=[4, 2], k=5), [2, 4])


def test_one_round_equals_hand_computed_fedavg_of_the_clients_updates():
    """Global after round 1 = w0 + Σ n_k Δ_k / Σ n_k over the devices the ledger says were selected."""
    config = RunConfig.from_mapping(tiny_overrides(rounds=1, op={"uplink_bits": 32}))
    result = fedsim.run(config)
    job = ClassifierTask(config)
    initial = job.new_model()
    devices = [row["device"] for row in result.devices]
    assert len(devices) == config.op.devices_per_round

    arrays = model_to_record(initial)
    updates, weights = [], []
    for device in devices:
        cfg = ConfigRecord({"server-round": 1, "train-bits": 8, "uplink-bits": 32, "local-iters": 2})
        from flwr.supercore.task_identity import TaskIdentity

        TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
        msg = Message(RecordDict({"arrays": arrays, "config": cfg}), dst_node_id=1, message_type=MessageType.TRAIN)
        content = local_update(job, device, msg)
        updates.append(decode_update(record_to_encoded(content["update"], 32), job.update_shapes))
        weights.append(content["metrics"]["num-examples"])
    expected = weighted_average(updates, weights)
    start = initial.state_dict()
    for key, delta in zip(job.update_keys, expected):
        assert torch.allclose(result.final_state[key], start[key] + torch.from_numpy(delta), atol=1e-6)
