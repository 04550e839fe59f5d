"""End-to-end runs through ``fedsim.run``: ledger contents, determinism, precision vs energy."""

import json

import pytest
from run_helpers import tiny_overrides

import fedsim
from fedsim.errors import ConfigError

ROUND_COLUMNS = "round,sim_time_s,round_time_s,energy_compute_j,energy_uplink_j,energy_round_j,energy_cum_j,test_accuracy,test_loss,selected,delivered"
DEVICE_COLUMNS = "round,device,train_bits,uplink_bits,payload_bits,local_iters,num_examples,compute_s,upload_s,energy_compute_j,energy_uplink_j"


def test_run_writes_a_complete_ledger(tmp_path):
    result = fedsim.run(tiny_overrides(), tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.yaml", "rounds.csv", "devices.csv", "summary.json", "model.pt"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    rounds = (tmp_path / "rounds.csv").read_text().splitlines()
    assert set(ROUND_COLUMNS.split(",")) <= set(rounds[0].split(","))
    assert len(rounds) == 1 + 3  # header, round 0 (initial model), rounds 1-2
    devices = (tmp_path / "devices.csv").read_text().splitlines()
    assert set(DEVICE_COLUMNS.split(",")) | {"drop_reason", "battery_j", "x_m", "y_m"} <= set(devices[0].split(","))
    assert len(devices) == 1 + 2 * 3  # K = 3 devices in each of 2 rounds
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("final_accuracy", "total_energy_j", "rounds", "sim_time_s", "target_accuracy", "rounds_to_target", "energy_to_target_j", "seed"):
        assert key in summary
    assert summary["rounds"] == 2 and summary["seed"] == 0
    # Energies add up: round energy = compute + uplink, cumulative = running sum, devices sum to rounds.
    for row in result.rounds:
        assert row["energy_round_j"] == pytest.approx(row["energy_compute_j"] + row["energy_uplink_j"])
    assert summary["total_energy_j"] == pytest.approx(sum(r["energy_round_j"] for r in result.rounds))
    assert summary["total_energy_j"] == pytest.approx(
        sum(d["energy_compute_j"] + d["energy_uplink_j"] for d in result.devices)
    )
    # Round time is the slowest selected device's compute + upload time.
    r1 = [d for d in result.devices if d["round"] == 1]
    assert result.rounds[1]["round_time_s"] == pytest.approx(max(d["compute_s"] + d["upload_s"] for d in r1))


def test_same_seed_gives_byte_identical_ledgers(tmp_path):
    fedsim.run(tiny_overrides(seed=11), tmp_path / "a")
    fedsim.run(tiny_overrides(seed=11), tmp_path / "b")
    fedsim.run(tiny_overrides(seed=12), tmp_path / "c")
    for name in ("rounds.csv", "devices.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()


def test_eight_bits_cost_less_energy_and_a_quarter_of_the_payload():
    low = fedsim.run(tiny_overrides(op={"train_bits": 8, "uplink_bits": 8}))
    full = fedsim.run(tiny_overrides(op={"train_bits": 32, "uplink_bits": 32}))
    for r_low, r_full in zip(low.rounds[1:], full.rounds[1:]):
        assert r_low["energy_compute_j"] < r_full["energy_compute_j"]
        assert r_low["energy_uplink_j"] < r_full["energy_uplink_j"]
        assert r_low["energy_round_j"] < r_full["energy_round_j"]
    params = low.summary["workload"]["params"]
    tensors = 4  # two Linear layers: weight and bias each carry one float32 scale
    assert low.devices[0]["payload_bits"] == 8 * params + 32 * tensors
    assert full.devices[0]["payload_bits"] == 32 * params
    ratio = low.devices[0]["payload_bits"] / full.devices[0]["payload_bits"]
    assert ratio == pytest.approx(0.25, rel=0.02)
    # Same seed, same devices and channels: the uplink energy ratio is the payload ratio.
    assert low.devices[0]["device"] == full.devices[0]["device"]
    assert low.devices[0]["energy_uplink_j"] / full.devices[0]["energy_uplink_j"] == pytest.approx(ratio)


def test_training_learns_on_the_embedded_digits():
    result = fedsim.run(tiny_overrides(rounds=8, op={"local_iters": 5}, world={"num_devices": 6}))
    accuracies = [r["test_accuracy"] for r in result.rounds]
    assert accuracies[-1] > 0.6 > accuracies[0]


def test_mnist_from_the_shared_idx_files(shared_mnist_dir):
    result = fedsim.run(
        tiny_overrides(
            rounds=3,
            dataset={"name": "mnist", "path": str(shared_mnist_dir)},
            op={"local_iters": 10},
            world={"num_devices": 10},
        )
    )
    assert result.summary["dataset"] == "mnist"
    assert result.summary["workload"]["input_size"] == 784
    assert result.final_accuracy > 0.3  # 10 classes: chance is 0.1


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"op": {"train_bits": 0}}, "op.train_bits=0"),
        ({"op": {"uplink_bits": 33}}, "op.uplink_bits=33"),
        ({"op": {"devices_per_round": 7}}, "op.devices_per_round=7"),
        ({"radio": {"tx_power_w": -0.1}}, "radio.tx_power_w=-0.1"),
        ({"world": {"deadline_s": 0}}, "world.deadline_s=0"),
        ({"devices": {"battery_j": -5.0}}, "devices.battery_j=-5.0"),
        ({"radio": {"bandwidth_hz": 0}}, "radio.bandwidth_hz=0"),
        ({"access": {"scheme": "ofdma", "resource_blocks": 2}}, "access.resource_blocks=2"),
        ({"dataset": {"name": "cifar"}}, "dataset.name='cifar'"),
        ({"dataset": {"name": "mnist"}}, "dataset.path=None"),
        ({"rounds": 0}, "rounds=0"),
        ({"partition": {"kind": "zipf"}}, "partition.kind='zipf'"),
    ],
)
def test_bad_values_fail_before_any_work_naming_the_key(overrides, key, tmp_path):
    with pytest.raises(ConfigError) as error:
        fedsim.run(tiny_overrides(**overrides), tmp_path)
    assert str(error.value).startswith(key) and "is not allowed" in str(error.value)
    assert "\n" not in str(error.value)
    assert not any(tmp_path.iterdir())


def test_a_run_whose_every_client_fails_raises_one_line(monkeypatch, tmp_path):
    import fedsim
    from fedsim.tasks import _classifier

    def broken(self, *args, **kwargs):
        raise RuntimeError("device out of memory")

    monkeypatch.setattr(_classifier.ClassifierTask, "local_update", broken)
    with pytest.raises(fedsim.ClientAppError, match="first error: RuntimeError: device out of memory") as info:
        fedsim.run({"rounds": 2}, tmp_path)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "summary.json").exists()  # no summary that looks like a finished run
    rows = (tmp_path / "devices.csv").read_text().splitlines()[1:]
    assert rows and all(",client_error," in row for row in rows)
