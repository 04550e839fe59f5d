"""The bad-input corpus: every config group and every file input a hostile new user could give.

Each case runs the command line in-process (``fedsim.cli.main``, as ``python -m fedsim`` does)
and asserts what the CLI promises for bad input: exit status 2, exactly one line on stderr that
starts ``fedsim: error:`` and names the key or file, and no files left behind (Hydra's own run
directory included). ``tests/test_cli.py`` runs a few of these as real subprocesses.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from fedsim.cli import main

from data.data_helpers import write_idx

TINY = ["rounds=1", "world.num_devices=4", "op.devices_per_round=2", "op.local_iters=1", "model.hidden=[8]"]
LM = ["run", "model=tinylm", "op.train_bits=32", "rounds=1", "world.num_devices=2", "op.devices_per_round=1", "lm.pretrain_steps=0"]
IN = "{inputs}"  # replaced by the directory of the case's input files

# (case id, arguments after `fedsim`, a fragment the one error line must hold)
CASES = [
    # top level
    ("seed-negative", ["run", "seed=-1"], "seed=-1 is not allowed"),
    ("rounds-zero", ["run", "rounds=0"], "rounds=0 is not allowed"),
    ("rounds-string", ["run", "rounds=many"], "rounds='many' is not allowed"),
    ("target-above-one", ["run", "target_accuracy=1.5"], "target_accuracy=1.5 is not allowed"),
    ("engine-unknown", ["run", "engine=gpu"], "engine='gpu' is not allowed: one of inprocess, cohort"),
    ("eval-batch-zero", ["run", "eval_batch_size=0"], "eval_batch_size=0 is not allowed"),
    ("unknown-top-key", ["run", "bogus=1"], "bogus='1' is not allowed: not a known key"),
    ("misspelled-key", ["run", "radio.tx_powr_w=1"], "did you mean radio.tx_power_w?"),
    ("unknown-command", ["fly"], "command='fly' is not allowed"),
    # op
    ("train-bits-zero", ["run", "op.train_bits=0"], "op.train_bits=0 is not allowed: an integer in [1, 32]"),
    ("uplink-bits-64", ["run", "op.uplink_bits=64"], "op.uplink_bits=64 is not allowed"),
    ("local-iters-float", ["run", "op.local_iters=1.5"], "op.local_iters=1.5 is not allowed"),
    ("devices-per-round-too-many", ["run", "op.devices_per_round=50"], "op.devices_per_round=50 is not allowed"),
    ("op-unknown-key", ["run", "op.foo=1"], "op.foo='1' is not allowed: not a known key"),
    # policy
    ("policy-unknown", ["run", "policy=oracle"], "policy='oracle' is not allowed: one of"),
    ("policy-devices-out-of-range", ["run", "policy=fixed", "policy.devices=[0,99]"], "policy.devices=[0, 99] is not allowed"),
    # dataset
    ("dataset-unknown", ["run", "dataset=imagenet"], "dataset='imagenet' is not allowed: one of cifar10, digits, fashion_mnist, femnist, hf, mnist, npz, shakespeare"),
    ("dataset-no-path", ["run", "dataset=mnist"], "dataset.path=None is not allowed"),
    ("dataset-path-list", ["run", "dataset=mnist", "dataset.path=[a,b]"], "dataset.path=['a', 'b'] is not allowed"),
    ("dataset-path-missing", ["run", "dataset=mnist", "dataset.path=/nonexistent/mnist"], "dataset.path='/nonexistent/mnist'"),
    ("dataset-test-fraction", ["run", "dataset.test_fraction=1.0"], "dataset.test_fraction=1.0 is not allowed"),
    ("dataset-download-string", ["run", "dataset.download=maybe"], "dataset.download='maybe' is not allowed: true or false"),
    ("dataset-1x1-images", ["run", "dataset=mnist", f"dataset.path={IN}/idx_1x1", "model=cnn"], "inputs of shape (1, 1, 1)"),
    ("dataset-garbage-idx", ["run", "dataset=mnist", f"dataset.path={IN}/idx_garbage"], "t10k-images-idx3-ubyte"),
    # partition
    ("partition-kind", ["run", "partition.kind=random"], "partition.kind='random' is not allowed"),
    ("partition-alpha-zero", ["run", "partition.kind=dirichlet", "partition.alpha=0"], "partition.alpha=0.0 is not allowed"),
    ("partition-too-many-shards", ["run", "partition.kind=shards", "partition.shards_per_device=100000"], "partition.shards_per_device=100000"),
    ("section-as-string", ["run", "train=sgd", "train.lr=0.1"], "train='sgd' is not allowed: a mapping of TrainConfig fields"),
    ("partition-group-unknown", ["run", "partition=halves"], "partition='halves' is not allowed: one of dirichlet, iid, natural_id, pathological, shards"),
    ("more-devices-than-samples", ["run", "world.num_devices=5000", "op.devices_per_round=2"], "world.num_devices=5000 is not allowed"),
    # model
    ("model-unknown", ["run", "model=resnet"], "model='resnet' is not allowed"),
    ("model-hidden-scalar", ["run", "model.hidden=5"], "model.hidden=5 is not allowed: a list of layer widths"),
    ("model-hidden-null", ["run", "model.hidden=null"], "model.hidden=None is not allowed: a list of layer widths"),
    ("model-hidden-zero", ["run", "model.hidden=[8,0]"], "model.hidden=0 is not allowed"),
    # train
    ("train-batch-zero", ["run", "train.batch_size=0"], "train.batch_size=0 is not allowed"),
    ("train-lr-zero", ["run", "train.lr=0"], "train.lr=0.0 is not allowed"),
    ("train-momentum-one", ["run", "train.momentum=1"], "train.momentum=1.0 is not allowed"),
    ("train-rounding", ["run", "train.rounding=up"], "train.rounding='up' is not allowed"),
    ("train-optimizer", ["run", "train.optimizer=lamb"], "train.optimizer='lamb' is not allowed: one of sgd, adamw, mkor"),
    # world, radio, access, devices
    ("world-no-devices", ["run", "world.num_devices=0"], "world.num_devices=0 is not allowed"),
    ("world-deadline-zero", ["run", "world.deadline_s=0"], "world.deadline_s=0.0 is not allowed"),
    ("radio-unknown", ["run", "radio=satellite"], "radio='satellite' is not allowed"),
    ("radio-power-negative", ["run", "radio.tx_power_w=-1"], "radio.tx_power_w=-1.0 is not allowed"),
    ("radio-bandwidth-zero", ["run", "radio.bandwidth_hz=0"], "radio.bandwidth_hz=0.0 is not allowed"),
    ("access-unknown", ["run", "access=cdma"], "access='cdma' is not allowed"),
    ("access-too-few-rbs", ["run", "access=ofdma", "access.resource_blocks=1"], "access.resource_blocks=1 is not allowed"),
    ("devices-unknown", ["run", "devices=phone"], "devices='phone' is not allowed"),
    ("devices-battery-negative", ["run", "devices.battery_j=-5"], "devices.battery_j=-5.0 is not allowed"),
    # mobility, cellular, handover
    ("mobility-unknown", ["run", "mobility=teleport"], "mobility='teleport' is not allowed"),
    ("mobility-gust-tau-zero", ["run", "mobility=uav_swarm", "mobility.gust_tau_s=0"], "mobility.gust_tau_s=0.0 is not allowed"),
    ("mobility-speed-inf", ["run", "mobility=random_waypoint", "mobility.speed_mps=[1,inf]"], "mobility.speed_mps=[1, inf]"),
    ("mobility-altitude-negative", ["run", "mobility=drone_routes", "mobility.altitude_m=-10"], "mobility.altitude_m=-10.0"),
    ("cellular-layout", ["run", "mobility=drone_routes", "cellular.layout=square"], "cellular.layout='square' is not allowed"),
    ("handover-rule", ["run", "handover.rule=sarsa"], "handover.rule='sarsa' is not allowed"),
    ("handover-candidates", ["run", "mobility=drone_routes", "handover.candidates=30"], "handover.candidates=30 is not allowed"),
    ("drones-tdma", ["run", "mobility=drone_routes", "access=tdma"], "access.scheme='tdma' is not allowed"),
    # strategy: the algorithm and its keys; availability, stragglers (the event-driven world)
    ("strategy-unknown", ["run", "strategy=fednova"], "strategy='fednova' is not allowed: one of"),
    ("strategy-key-unknown", ["run", "strategy=fedprox", "strategy.momentum=0.9"], "strategy.momentum"),
    ("strategy-fedprox-mu-negative", ["run", "strategy=fedprox", "strategy.mu=-0.1"], "strategy.mu=-0.1 is not allowed"),
    ("strategy-fedprox-mu-text", ["run", "strategy=fedprox", "strategy.mu=much"], "strategy.mu='much' is not allowed"),
    ("strategy-fedprox-lm", [*LM, "strategy=fedprox"], "strategy='fedprox' is not allowed"),
    ("strategy-dp-clipping-zero", ["run", "strategy=dp_fixed", "strategy.clipping_norm=0"], "strategy.clipping_norm=0.0 is not allowed"),
    ("strategy-dp-clipping-negative", ["run", "strategy=dp_adaptive", "strategy.initial_clipping_norm=-1"], "strategy.initial_clipping_norm=-1.0 is not allowed"),
    ("strategy-dp-quantile", ["run", "strategy=dp_adaptive", "strategy.target_clipped_quantile=1.5"], "strategy.target_clipped_quantile=1.5"),
    ("strategy-dp-count-noise", ["run", "strategy=dp_adaptive", "strategy.noise_multiplier=2"], "strategy.noise_multiplier=2.0 is not allowed"),
    ("strategy-krum-too-few", ["run", "strategy=krum", "strategy.num_malicious=4"], "strategy.num_malicious=4 is not allowed"),
    ("strategy-krum-f-negative", ["run", "strategy=krum", "strategy.num_malicious=-1"], "strategy.num_malicious=-1 is not allowed"),
    ("strategy-multikrum-selected", ["run", "strategy=multikrum", "op.devices_per_round=4", "strategy.num_malicious=0", "strategy.num_selected=5"], "strategy.num_selected=5 is not allowed"),
    ("strategy-bulyan-too-few", ["run", "strategy=bulyan", "strategy.num_malicious=2"], "strategy.num_malicious=2 is not allowed"),
    ("strategy-trimmed-beta", ["run", "strategy=fedtrimmedavg", "strategy.beta=0.5"], "strategy.beta=0.5 is not allowed"),
    ("strategy-fedadam-beta", ["run", "strategy=fedadam", "strategy.beta_1=1"], "strategy.beta_1=1.0 is not allowed"),
    ("strategy-fedavgm-lr", ["run", "strategy=fedavgm", "strategy.server_lr=0"], "strategy.server_lr=0.0 is not allowed"),
    ("strategy-qfedavg-q", ["run", "strategy=qfedavg", "strategy.q=-1"], "strategy.q=-1.0 is not allowed"),
    ("strategy-buffer-zero", ["run", "strategy=fedbuff", "strategy.buffer_size=0"], "strategy.buffer_size=0 is not allowed"),
    ("strategy-concurrency-too-many", ["run", "strategy=fedbuff", "strategy.concurrency=21"], "strategy.concurrency=21 is not allowed"),
    ("strategy-staleness-unknown", ["run", "strategy=fedasync", "strategy.staleness=exponential"], "strategy.staleness='exponential' is not allowed"),
    ("strategy-async-policy", ["run", "strategy=fedbuff", "policy=optimized"], "policy='optimized' is not allowed: a policy that dispatches devices"),
    ("tracking-unknown", ["run", "tracking=neptune"], "tracking='neptune' is not allowed: one of"),
    ("tracking-kind-unknown", ["run", "tracking.kind=neptune"], "tracking.kind='neptune' is not allowed"),
    ("tracking-uri-list", ["run", "tracking=mlflow", "tracking.uri=[a,b]"], "tracking.uri=['a', 'b'] is not allowed"),
    ("strategy-async-tdma", ["run", "strategy=fedbuff", "access=tdma"], "access='tdma' is not allowed: orthogonal with strategy=fedbuff"),
    ("availability-unknown", ["run", "availability=sometimes"], "availability='sometimes' is not allowed"),
    ("availability-trace-end-before-start", ["run", "strategy=fedbuff", "availability=trace", f"availability.trace_path={IN}/trace_backwards.csv"], "start_s=5 end_s=2"),
    ("availability-trace-missing", ["run", "strategy=fedbuff", "availability=trace", "availability.trace_path=/nonexistent/trace.csv"], "availability.trace_path='/nonexistent/trace.csv'"),
    ("faults-crash-prob-above-one", ["run", "faults.client_crash_prob=1.5"], "faults.client_crash_prob=1.5 is not allowed"),
    ("faults-nonfinite-prob-negative", ["run", "faults.nonfinite_prob=-0.1"], "faults.nonfinite_prob=-0.1 is not allowed"),
    ("faults-straggler-slowdown-below-one", ["run", "faults.straggler_slowdown=0.5"], "faults.straggler_slowdown=0.5 is not allowed"),
    ("faults-message-loss-not-a-number", ["run", "faults.message_loss_prob=abc"], "faults.message_loss_prob='abc' is not allowed"),
    ("faults-attack-unknown", ["run", "faults.attack=label_flip"], "faults.attack='label_flip' is not allowed: one of sign_flip, gaussian, scaled"),
    ("faults-attack-scale-zero", ["run", "faults.byzantine_prob=0.2", "faults.attack_scale=0"], "faults.attack_scale=0.0 is not allowed: a number in (0, 1e+09]"),
    ("faults-attack-scale-negative", ["run", "faults.attack_scale=-4"], "faults.attack_scale=-4.0 is not allowed"),
    ("faults-byzantine-prob-above-one", ["run", "faults.byzantine_prob=1.2"], "faults.byzantine_prob=1.2 is not allowed: a number in [0, 1]"),
    ("faults-byzantine-prob-negative", ["run", "faults=byzantine", "faults.byzantine_prob=-0.2"], "faults.byzantine_prob=-0.2 is not allowed"),
    ("devices-straggler-fraction", ["run", "devices.straggler_fraction=1.5"], "devices.straggler_fraction=1.5 is not allowed"),
    # urllc
    ("urllc-unknown-key", ["run", "urllc.slots_per_ms=3"], "urllc.slots_per_ms='3' is not allowed: not a known key"),
    # theory
    ("theory-sigma-zero", ["run", "theory.sigma=0"], "theory.sigma=0.0 is not allowed"),
    ("theory-sigma-path-missing", ["run", "theory.sigma_path=/nonexistent/sigma.txt"], "theory.sigma_path='/nonexistent/sigma.txt'"),
    ("theory-sigma-path-garbage", ["run", f"theory.sigma_path={IN}/sigma_garbage.txt"], "theory.sigma_path line 2"),
    ("theory-sigma-path-short", ["run", f"theory.sigma_path={IN}/sigma_short.txt"], "a file with world.num_devices=4 values, not 3"),
    ("theory-sigma-path-list", ["run", "theory.sigma_path=[1,2]"], "theory.sigma_path=[1, 2] is not allowed"),
    # optimizer (fedsim optimize)
    ("optimizer-budgets-strings", ["optimize", "optimizer.budgets=[a,b]"], "optimizer.budgets='a' is not allowed"),
    ("optimizer-budgets-three", ["optimize", "optimizer.budgets=[1,2,3]"], "optimizer.budgets=[1, 2, 3] is not allowed"),
    ("optimizer-epsilons-scalar", ["optimize", "optimizer.epsilons=0.1"], "optimizer.epsilons=0.1 is not allowed"),
    ("optimizer-epsilons-empty", ["optimize", "optimizer.epsilons=[]"], "optimizer.epsilons=[] is not allowed"),
    ("optimizer-disagreement", ["optimize", "optimizer.disagreement=vote"], "optimizer.disagreement='vote' is not allowed"),
    ("optimizer-budgets-missing", ["optimize", "optimizer.disagreement=budgets"], "optimizer.budgets=None is not allowed"),
    # lm: the compression recipe
    ("lm-sparsity-banana", [*LM, "lm.sparsity=banana"], "lm.sparsity='banana' is not allowed"),
    ("lm-bits-3", [*LM, "lm.bits=3"], "lm.bits=3 is not allowed: 4 or 8"),
    ("lm-train-bits", ["run", "model=tinylm", "op.train_bits=8"], "op.train_bits=8 is not allowed: 32 with model=tinylm"),
    ("lm-heads-divisor", [*LM, "lm.n_heads=3"], "lm.n_heads=3 is not allowed"),
    # lm: checkpoints, text
    ("lm-checkpoint-missing", [*LM, "lm.checkpoint=/nonexistent/llama"], "does not exist"),
    ("lm-checkpoint-empty", [*LM, f"lm.checkpoint={IN}/ckpt_empty"], "is empty"),
    ("lm-checkpoint-a-file", [*LM, f"lm.checkpoint={IN}/sigma_short.txt"], "is not a directory"),
    ("lm-checkpoint-bad-json", [*LM, f"lm.checkpoint={IN}/ckpt_bad_json"], "config.json is not valid JSON"),
    ("lm-checkpoint-json-list", [*LM, f"lm.checkpoint={IN}/ckpt_json_list"], "config.json holds a list"),
    ("lm-checkpoint-model-type", [*LM, f"lm.checkpoint={IN}/ckpt_bert"], "model_type='bert'"),
    ("lm-checkpoint-no-weights", [*LM, f"lm.checkpoint={IN}/ckpt_no_weights"], "has no weights"),
    ("lm-checkpoint-garbage-safetensors", [*LM, f"lm.checkpoint={IN}/ckpt_garbage"], "model.safetensors is not a valid safetensors file"),
    ("lm-checkpoint-pickle", [*LM, f"lm.checkpoint={IN}/ckpt_pickle"], "pytorch_model.bin cannot be loaded with weights_only=True"),
    ("lm-text-missing", [*LM, "lm.text_path=/nonexistent/book.txt"], "lm.text_path='/nonexistent/book.txt' is not allowed"),
    ("lm-text-empty", [*LM, f"lm.text_path={IN}/empty.txt"], "it has 0"),
    # scenarios: a broken file affects only itself (see test_a_broken_scenario_file_breaks_only_itself)
    ("scenario-unknown", ["run", "scenario=nope"], "scenario='nope' is not allowed: one of"),
    ("reproduce-unknown", ["reproduce", "nope"], "scenario='nope' is not allowed"),
    # sweeps: every job is checked before the first runs
    ("sweep-one-bad-value", ["run", "-m", "op.train_bits=4,8,0"], "op.train_bits=0 is not allowed"),
    ("sweep-bad-group-option", ["run", "-m", "access=fdma,cdma"], "access='cdma' is not allowed"),
    ("sweep-bad-combination", ["run", "-m", "world.num_devices=2,4", "op.devices_per_round=3"], "op.devices_per_round=3"),
    # fedsim plot: damaged ledgers are refused
    ("plot-missing-dir", ["plot", "/nonexistent/run"], "/nonexistent/run"),
    ("plot-truncated-summary", ["plot", f"{IN}/run_truncated_summary"], "summary.json"),
    ("plot-binary-rounds", ["plot", f"{IN}/run_binary_rounds"], "rounds.csv"),
    ("plot-truncated-row", ["plot", f"{IN}/run_truncated_row"], "rounds.csv"),
    ("plot-header-only", ["plot", f"{IN}/run_header_only"], "rounds.csv"),
    ("plot-empty-rounds", ["plot", f"{IN}/run_empty_rounds"], "rounds.csv"),
    # your own data (issue 29): npz, hf, the LEAF sets, CIFAR-10 and flwr-datasets' partitions
    ("npz-no-path", ["run", "dataset=npz"], "dataset.path=None is not allowed: an .npz file holding x_train"),
    ("npz-missing-file", ["run", "dataset=npz", "dataset.path=/nonexistent/data.npz"], "(no such file)"),
    ("npz-not-a-zip", ["run", "dataset=npz", f"dataset.path={IN}/empty.txt"], "not a readable .npz"),
    ("npz-missing-arrays", ["run", "dataset=npz", f"dataset.path={IN}/npz_partial.npz"], "missing array(s) x_test, y_test"),
    ("npz-object-arrays", ["run", "dataset=npz", f"dataset.path={IN}/npz_objects.npz"], "not a readable .npz"),
    ("npz-channels-last-string", ["run", "dataset=npz", "dataset.channels_last=maybe"], "dataset.channels_last='maybe' is not allowed"),
    ("hf-neither-source", ["run", "dataset=hf"], "dataset.hf_name=None is not allowed: a hub dataset id"),
    ("hf-both-sources", ["run", "dataset=hf", "dataset.hf_name=a/b", "dataset.path=/tmp"], "dataset.hf_name='a/b' is not allowed"),
    ("hf-hub-without-download", ["run", "dataset=hf", "dataset.hf_name=uoft-cs/cifar10"], "dataset.download=False is not allowed"),
    ("hf-not-a-saved-dataset", ["run", "dataset=hf", f"dataset.path={IN}/idx_1x1"], "not a datasets save_to_disk directory"),
    ("hf-missing-column", ["run", "dataset=hf", f"dataset.path={IN}/hf_small", "dataset.image_key=pixels"], "dataset.image_key='pixels' is not allowed: a column of"),
    ("hf-missing-split", ["run", "dataset=hf", f"dataset.path={IN}/hf_small", "dataset.train_split=validation"], "dataset.train_split='validation' is not allowed"),
    ("hf-empty-label-key", ["run", "dataset=hf", "dataset.path=/tmp", "dataset.label_key="], "dataset.label_key"),
    ("cifar10-no-path", ["run", "dataset=cifar10"], "dataset.path=None is not allowed: a directory holding cifar-10-batches-py (or set download=true)"),
    ("femnist-no-path", ["run", "dataset=femnist"], "dataset.path=None is not allowed: a LEAF femnist directory"),
    ("max-clients-zero", ["run", "dataset.max_clients=0"], "dataset.max_clients=0 is not allowed"),
    ("natural-id-without-clients", ["run", "partition=natural_id"], "partition.kind='natural_id' is not allowed: a dataset with a natural partition"),
    ("natural-id-wrong-device-count", ["run", "dataset=npz", f"dataset.path={IN}/npz_clients.npz", "partition=natural_id"], "world.num_devices=4 is not allowed: 3, the number of natural clients"),
    ("pathological-zero-classes", ["run", "partition=pathological", "partition.classes_per_device=0"], "partition.classes_per_device=0 is not allowed"),
    ("exponential-too-many-devices", ["run", "partition.kind=exponential", "world.num_devices=12", "op.devices_per_round=2"], "world.num_devices=12 is not allowed"),
    ("min-partition-size-negative", ["run", "partition.min_partition_size=-1"], "partition.min_partition_size=-1 is not allowed"),
    ("dirichlet-unreachable", ["run", "partition=dirichlet", "partition.alpha=0.001", "world.num_devices=20"], "partition.alpha=0.001 is not allowed: a value flwr-datasets' dirichlet partitioner can use"),
]

GOOD_ROUNDS = "round,sim_time_s,energy_cum_j,test_accuracy\n0,0.0,0.0,0.1\n1,1.0,0.5,0.4\n"


def _write_inputs(root: Path) -> None:
    """The damaged files the cases point at (none is ever written by fedsim itself)."""
    root.mkdir()
    (root / "idx_1x1").mkdir()
    write_idx(root / "idx_1x1" / "t10k-images-idx3-ubyte", np.zeros((200, 1, 1), np.uint8))
    write_idx(root / "idx_1x1" / "t10k-labels-idx1-ubyte", (np.arange(200) % 10).astype(np.uint8))
    (root / "idx_garbage").mkdir()
    (root / "idx_garbage" / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    write_idx(root / "idx_garbage" / "t10k-labels-idx1-ubyte", (np.arange(200) % 10).astype(np.uint8))
    (root / "sigma_garbage.txt").write_text("1e-8\nlots\n1e-8\n1e-8\n")
    (root / "sigma_short.txt").write_text("1e-8\n2e-8\n3e-8\n")
    (root / "trace_backwards.csv").write_text("device,start_s,end_s\n0,0,3\n1,5,2\n")
    (root / "empty.txt").write_text("")
    np.savez(root / "npz_partial.npz", x_train=np.zeros((4, 2), np.float32), y_train=np.arange(4) % 2)
    np.savez(root / "npz_objects.npz", x_train=np.array([[{}]] * 4, dtype=object), y_train=np.arange(4) % 2,
             x_test=np.zeros((2, 1)), y_test=np.arange(2))
    np.savez(root / "npz_clients.npz", x_train=np.zeros((30, 2), np.float32), y_train=np.arange(30) % 2,
             x_test=np.zeros((4, 2), np.float32), y_test=np.arange(4) % 2, client_train=np.arange(30) % 3)
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"image": [[0.0, 1.0]] * 8, "label": [0, 1] * 4})}).save_to_disk(
        str(root / "hf_small"))
    llama = {"model_type": "llama", "vocab_size": 384, "hidden_size": 64, "num_hidden_layers": 2}
    _write_dirs(root, {
        "ckpt_empty": {},
        "ckpt_bad_json": {"config.json": "{not json"},
        "ckpt_json_list": {"config.json": "[1, 2]"},
        "ckpt_bert": {"config.json": json.dumps({"model_type": "bert"})},
        "ckpt_no_weights": {"config.json": json.dumps(llama)},
        "ckpt_garbage": {"config.json": json.dumps(llama), "model.safetensors": "not a safetensors file"},
    })
    (root / "ckpt_pickle").mkdir()
    (root / "ckpt_pickle" / "config.json").write_text(json.dumps(llama))
    (root / "ckpt_pickle" / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": _Unsafe()}))
    _write_dirs(root, {
        "run_truncated_summary": {"rounds.csv": GOOD_ROUNDS, "summary.json": '{"rounds": 1, "final_acc'},
        "run_binary_rounds": {"rounds.csv": "\x00\x01\x02\xff\xfe binary"},
        "run_truncated_row": {"rounds.csv": GOOD_ROUNDS + "2,2.0,0."},
        "run_header_only": {"rounds.csv": GOOD_ROUNDS.splitlines()[0] + "\n"},
        "run_empty_rounds": {"rounds.csv": ""},
    })


def _write_dirs(root: Path, dirs: dict[str, dict[str, str]]) -> None:
    """Each directory of ``dirs`` with its files' texts (latin-1, so any byte can be written)."""
    for name, files in dirs.items():
        (root / name).mkdir()
        for file, text in files.items():
            (root / name / file).write_text(text, encoding="latin-1")


class _Unsafe:
    """An object a weights_only unpickler must refuse (it is not a tensor)."""


def _files_under(path: Path) -> set[Path]:
    return {p.relative_to(path) for p in path.rglob("*")} if path.exists() else set()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "inputs"
    _write_inputs(root)
    return root


def run_cli(args: list[str], out: Path, capfd) -> tuple[int, list[str]]:
    """``fedsim ARGS`` in-process with Hydra's output under ``out``: its exit status and stderr lines."""
    command, rest = args[0], args[1:]
    if command in ("run", "optimize", "reproduce"):
        rest = [*rest, f"hydra.run.dir={out / 'run'}", f"hydra.sweep.dir={out / 'sweep'}"]
    if command == "run" and not any(a.startswith("model=") for a in rest):
        rest = [*TINY, *rest]  # small (and first, so the case's own value wins): a wrong start ends fast
    capfd.readouterr()
    try:
        code = main([command, *rest])
    except SystemExit as stop:
        code = stop.code
    err = capfd.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def test_the_corpus_is_large_and_covers_every_group():
    from fedsim.config import RunConfig

    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)
    covered = {a.split("=")[0].split(".")[0] for _, args, _ in CASES for a in args if "=" in a}
    assert set(RunConfig.__dataclass_fields__) <= covered


@pytest.mark.parametrize(("args", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_stops_with_one_line_and_leaves_nothing(args, fragment, inputs, tmp_path, capfd):
    args = [a.replace(IN, str(inputs)) for a in args]
    before = _files_under(inputs)
    out = tmp_path / "out"
    code, lines = run_cli(args, out, capfd)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("fedsim: error: "), lines
    assert fragment.replace(IN, str(inputs)) in lines[0], lines[0]
    assert _files_under(out) == set(), "bad input left files behind"
    assert _files_under(inputs) == before, "bad input changed its own input files"


def test_a_broken_scenario_file_breaks_only_itself(tmp_path, capfd, monkeypatch):
    import shutil

    import fedsim._compose as compose

    scenarios = tmp_path / "scenarios"
    shutil.copytree(compose.scenarios_dir(), scenarios)
    (scenarios / "broken.yaml").write_text("op:\n  train_bits: [4\n")
    (scenarios / "a_list.yaml").write_text("- 1\n- 2\n")
    monkeypatch.setattr(compose, "scenarios_dir", lambda: scenarios)
    for name, fragment in (("broken", "scenarios/broken.yaml: ParserError"), ("a_list", "a YAML mapping")):
        code, lines = run_cli(["run", f"scenario={name}"], tmp_path / name, capfd)
        assert code == 2 and len(lines) == 1 and f"scenario='{name}' is not allowed" in lines[0] and fragment in lines[0], lines
        assert _files_under(tmp_path / name) == set()
    # Every other command and scenario still works beside the broken file.
    from fedsim import compose as compose_config

    assert compose_config(["scenario=kim2023_green_qfl"]).world.num_devices == 50
