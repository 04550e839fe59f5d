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
CUSTOM = ["run", "model=custom", "rounds=1", "world.num_devices=4", "op.devices_per_round=2", "op.local_iters=1"]

# (case id, arguments after `fedsim`, a fragment the one error line must hold)
CASES = [
    # top level
    ("seed-negative", ["run", "seed=-1"], "seed=-1 is not allowed"),
    ("rounds-zero", ["run", "rounds=0"], "rounds=0 is not allowed"),
    ("rounds-string", ["run", "rounds=many"], "rounds='many' is not allowed"),
    ("target-above-one", ["run", "target_accuracy=1.5"], "target_accuracy=1.5 is not allowed"),
    ("engine-unknown", ["run", "engine=gpu"], "engine='gpu' is not allowed: one of inprocess, cohort"),
    ("eval-batch-zero", ["run", "eval_batch_size=0"], "eval_batch_size=0 is not allowed"),
    ("torch-threads-zero", ["run", "torch_threads=0"], "torch_threads=0 is not allowed: an integer >= 1"),
    ("torch-threads-string", ["run", "torch_threads=all"], "torch_threads='all' is not allowed"),
    ("torch-threads-float", ["run", "torch_threads=1.5"], "torch_threads=1.5 is not allowed"),
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
    # policy=custom (policy.target, policy.kwargs): user classes in tests/seam_examples.py
    ("policy-custom-no-target", ["run", "policy=custom"], "policy.target=None is not allowed: MODULE:CLASS naming a subclass of fedsim.control.Policy"),
    ("policy-custom-not-importable", ["run", "policy=custom", "policy.target=no_such_policy_module:Greedy"],
     "policy.target='no_such_policy_module:Greedy' is not allowed: an importable module (ModuleNotFoundError"),
    ("policy-custom-not-a-policy", ["run", "policy=custom", "policy.target=seam_examples:NotAPolicy"], "a subclass of fedsim.control.Policy, not the class NotAPolicy"),
    ("policy-custom-abstract", ["run", "policy=custom", "policy.target=fedsim.control:Policy"], "a Policy subclass that defines decide"),
    ("policy-custom-kwargs-unknown", ["run", "policy=custom", "policy.target=seam_examples:FirstK", "policy.kwargs={power: 1}"],
     "policy.kwargs={'power': 1} is not allowed: keyword arguments FirstK(config, run, ...) accepts"),
    ("policy-custom-kwargs-not-mapping", ["run", "policy=custom", "policy.target=seam_examples:FirstK", "policy.kwargs=[1,2]"], "policy.kwargs=[1, 2] is not allowed: a mapping"),
    ("policy-target-without-custom", ["run", "policy=best_channel", "policy.target=no_such_policy_module:Greedy"],
     "policy.target='no_such_policy_module:Greedy' is not allowed: an importable module"),
    ("policy-custom-async-no-dispatch", ["run", "strategy=fedbuff", "policy=custom", "policy.target=seam_examples:FirstK"],
     "or custom with a policy.target whose DISPATCHES is True"),
    ("policy-custom-decision-power", ["run", "policy=custom", "policy.target=seam_examples:FirstK", "policy.kwargs={power_fraction: 2}"],
     "decision.tx_power_w=[0.2, 0.2] is not allowed: powers in (0, radio.tx_power_w=0.1] W"),
    ("policy-custom-decision-type", ["run", "policy=custom", "policy.target=seam_examples:ReturnsDeviceList"],
     "policy.decide='list' is not allowed: a fedsim.control.RoundDecision"),
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
    # model=custom (model.target, model.kwargs) and the token model char_lstm
    ("custom-target-missing", [*CUSTOM], "model.target=None is not allowed: MODULE:FACTORY"),
    ("custom-target-no-colon", [*CUSTOM, "model.target=collections"], "model.target='collections' is not allowed: MODULE:FACTORY"),
    ("custom-target-not-importable", [*CUSTOM, "model.target=no_such_module_xyz:Net"], "ModuleNotFoundError: No module named 'no_such_module_xyz'"),
    ("custom-target-attribute-missing", [*CUSTOM, "model.target=collections:NoSuchNet"], "(NoSuchNet does not exist)"),
    ("custom-target-not-callable", [*CUSTOM, "model.target=math:pi"], "model.target='math:pi' is not allowed: a callable"),
    ("custom-target-not-a-module", [*CUSTOM, "model.target=collections:OrderedDict"], "a torch.nn.Module, not a OrderedDict"),
    ("custom-factory-raises", [*CUSTOM, "model.target=torch.nn:Linear"], "it raised TypeError: Linear.__init__() missing 2 required"),
    ("custom-no-parameters", [*CUSTOM, "model.target=torch.nn:Flatten"], "a model with trainable parameters"),
    ("custom-output-shape", [*CUSTOM, "model.target=torch.nn:Linear", "model.kwargs={in_features:8,out_features:10}"], "(1, 10) logits, not (1, 1, 8, 10)"),
    ("custom-kwargs-not-mapping", [*CUSTOM, "model.target=torch.nn:Linear", "model.kwargs=[1,2]"], "model.kwargs=[1, 2] is not allowed: a mapping"),
    ("char-lstm-on-images", [*CUSTOM[:1], "model=char_lstm", *CUSTOM[2:]], "model.name='char_lstm' is not allowed: a model for the dataset's images of shape (1, 8, 8)"),
    ("char-lstm-no-widths", [*CUSTOM[:1], "model=char_lstm", *CUSTOM[2:], "model.hidden=[]"], "model.hidden=[] is not allowed"),
    ("cnn-on-tokens", [*CUSTOM[:1], "model=cnn", *CUSTOM[2:], "dataset=npz", f"dataset.path={IN}/npz_tokens.npz"], "model.name='cnn' is not allowed: a model for the dataset's token ids of shape (6,)"),
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
    ("radio-rate-model-unknown", ["run", "radio.rate_model=wifi"], "radio.rate_model='wifi' is not allowed: one of shannon, nr, lte"),
    ("radio-bler-target-one", ["run", "radio.rate_model=nr", "radio.bler_target=1"], "radio.bler_target=1.0 is not allowed"),
    ("radio-bler-target-zero", ["run", "radio.rate_model=lte", "radio.bler_target=0"], "radio.bler_target=0.0 is not allowed"),
    ("radio-harq-max-tx-zero", ["run", "radio.rate_model=nr", "radio.harq_max_tx=0"], "radio.harq_max_tx=0 is not allowed"),
    ("radio-overhead-one", ["run", "radio.rate_model=lte", "radio.overhead_fraction=1"], "radio.overhead_fraction=1.0 is not allowed"),
    ("radio-numerology-lte", ["run", "radio.rate_model=lte", "radio.numerology=1"], "radio.numerology=1 is not allowed: 0 with rate_model=lte"),
    ("radio-mcs-table", ["run", "radio.rate_model=nr", "radio.mcs_table=qam1024"], "radio.mcs_table='qam1024' is not allowed"),
    ("radio-grant-delay-negative", ["run", "radio.rate_model=lte", "radio.grant_delay_s=-0.001"], "radio.grant_delay_s=-0.001 is not allowed"),
    ("radio-rate-model-with-waterfall", ["run", "radio.rate_model=nr", "radio.waterfall_threshold=2"],
     "radio.waterfall_threshold=2 is not allowed: null with rate_model=nr"),
    ("radio-rate-model-ofdma", ["run", "radio.rate_model=lte", "access=ofdma"], "radio.rate_model='lte' is not allowed: shannon with access.scheme=ofdma"),
    ("radio-link-adaptation", ["run", "radio.rate_model=lte", "radio.link_adaptation=oracle"],
     "radio.link_adaptation='oracle' is not allowed: one of subband, wideband"),
    ("radio-snr-gap-negative", ["run", "radio.rate_model=lte", "radio.snr_gap_db=-1"], "radio.snr_gap_db=-1.0 is not allowed"),
    # radio.path_loss=custom (radio.path_loss_target, radio.path_loss_kwargs): functions in tests/seam_examples.py
    ("radio-path-loss-custom-no-target", ["run", "radio.path_loss=custom"], "radio.path_loss_target=None is not allowed: MODULE:FUNCTION"),
    ("radio-path-loss-target-not-importable", ["run", "radio.path_loss=custom", "radio.path_loss_target=no_such_channel_module:loss_db"],
     "radio.path_loss_target='no_such_channel_module:loss_db' is not allowed: an importable module (ModuleNotFoundError"),
    ("radio-path-loss-target-not-callable", ["run", "radio.path_loss=custom", "radio.path_loss_target=math:pi"], "-> path loss in dB, not a float"),
    ("radio-path-loss-target-without-custom", ["run", "radio.path_loss_target=no_such_channel_module:loss_db"],
     "radio.path_loss_target='no_such_channel_module:loss_db' is not allowed: an importable module"),
    ("radio-path-loss-kwargs-unknown", ["run", "radio.path_loss=custom", "radio.path_loss_target=seam_examples:exponent_db", "radio.path_loss_kwargs={alpha: 3}"],
     "(got an unexpected keyword argument 'alpha')"),
    ("radio-path-loss-kwargs-reserved", ["run", "radio.path_loss=custom", "radio.path_loss_target=seam_examples:blocked_db", "radio.path_loss_kwargs={rng: 1}"],
     "radio.path_loss_kwargs={'rng': 1} is not allowed: the model's own parameters, not rng"),
    ("radio-path-loss-kwargs-not-mapping", ["run", "radio.path_loss_kwargs=5"], "radio.path_loss_kwargs=5 is not allowed: a mapping"),
    ("radio-path-loss-wrong-shape", ["run", "radio.path_loss=custom", "radio.path_loss_target=seam_examples:scalar_db"],
     "radio.path_loss_target='seam_examples:scalar_db' is not allowed: a function returning one path loss per link: an array of shape (4,), not ()"),
    ("radio-path-loss-nan", ["run", "radio.path_loss=custom", "radio.path_loss_target=seam_examples:nan_beyond_100m_db"], "finite path losses in dB: it returned nan dB"),
    ("radio-path-loss-negative", ["run", "radio.path_loss=custom", "radio.path_loss_target=seam_examples:negative_db"], "path losses >= 0 dB"),
    ("radio-path-loss-raises", ["run", "radio.path_loss=custom", "radio.path_loss_target=seam_examples:raises_db"],
     "(it raised RuntimeError: table lookup out of range)"),
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
    # SLoPe (issue 34)
    ("slope-nm-n-equals-m", ["reproduce", "slope_pretraining", "lm.sparsity=4:4"], "lm.sparsity='4:4' is not allowed: 'N:M' with 0 < N < M"),
    ("slope-adapter-fraction-zero", ["reproduce", "slope_pretraining", "scenario.adapter_fraction=0"], "scenario.adapter_fraction=0 is not allowed: a float in (0, 1]"),
    ("slope-adapter-rank-zero", ["reproduce", "slope_pretraining", "scenario.adapter_rank=0"], "scenario.adapter_rank=0 is not allowed: an int >= 1"),
    ("slope-backward-unstructured", [*LM, "lm.backward=double_pruned", "lm.sparsity=0.5"], "lm.backward='double_pruned' is not allowed: dense unless lm.sparsity is an N:M pattern"),
]

# ---- fedsim run-app: the app (a Flower app directory or MODULE:OBJECT pair), --run-config, -------
# ---- --output, options, and fedsim overrides; the fixture apps live in tests/engine/apps/. -------
RUN_APP_FIXTURES = Path(__file__).resolve().parent / "engine" / "apps"
RUN_APP_DIR = str(RUN_APP_FIXTURES / "quickstart")  # [tool.flwr.app.config]: batch-size, fraction-train, ...
CASES += [
    ("run-app-no-app", ["run-app"], "app=None is not allowed: a Flower app directory, or MODULE:SERVER_APP MODULE:CLIENT_APP"),
    ("run-app-missing-dir", ["run-app", "/nonexistent/app"], "app='/nonexistent/app' is not allowed"),
    ("run-app-dir-without-pyproject", ["run-app", IN], "is not allowed: a Flower app directory: a pyproject.toml with [tool.flwr.app.components]"),
    ("run-app-three-apps", ["run-app", "a:b", "c:d", "e:f"], "app='a:b c:d e:f' is not allowed"),
    ("run-app-unknown-option", ["run-app", RUN_APP_DIR, "--verbose"], "option='--verbose' is not allowed: one of --output, --run-config (-c), --help"),
    ("run-app-output-without-value", ["run-app", RUN_APP_DIR, "--output"], "--output=None is not allowed: a value after it"),
    ("run-app-run-config-without-value", ["run-app", RUN_APP_DIR, "--run-config"], "--run-config=None is not allowed: a value after it"),
    ("run-app-run-config-bare-string", ["run-app", RUN_APP_DIR, "--run-config", "name=abc"], "--run-config='name=abc' is not allowed: space-separated key=value pairs with TOML values"),
    ("run-app-run-config-unknown-key", ["run-app", RUN_APP_DIR, "-c", "num-rounds=2"], "--run-config='num-rounds' is not allowed: a key of [tool.flwr.app.config]: batch-size, fraction-train"),
    ("run-app-run-config-missing-toml", ["run-app", RUN_APP_DIR, "--run-config=/nonexistent/config.toml"], "--run-config='/nonexistent/config.toml' is not allowed"),
    ("run-app-bad-override", ["run-app", RUN_APP_DIR, "world.num_devices=0"], "world.num_devices=0 is not allowed"),
    ("run-app-misspelled-override", ["run-app", RUN_APP_DIR, "radio.tx_powr_w=1"], "did you mean radio.tx_power_w?"),
    ("run-app-import-raises", ["run-app", str(RUN_APP_FIXTURES / "broken_import")], "server_app='fixture_broken.server_app:app' is not allowed: an importable MODULE:OBJECT (RuntimeError: DATA_DIR is not set)"),
    ("run-app-module-not-found", ["run-app", "no_such_app_module:app", "no_such_app_module:client"], "server_app='no_such_app_module:app' is not allowed: an importable MODULE:OBJECT (ModuleNotFoundError"),
    ("run-app-not-a-server-app", ["run-app", "json:dumps", "json:loads"], "server_app='json:dumps' is not allowed: a flwr.serverapp"),
    ("run-app-no-object", ["run-app", "json", "json:loads"], "server_app='json' is not allowed: MODULE:OBJECT naming a ServerApp"),
]

# async (issue 30): fedsim resume of fedasync/fedbuff run directories (each holds the lock file a
# killed run leaves, which resume takes over)
CASES += [
    ("resume-async-finished", ["resume", f"{IN}/async_finished"], "an unfinished run (summary.json is there: this run finished)"),
    ("resume-async-no-checkpoint", ["resume", f"{IN}/async_no_checkpoint"], "a checkpoint, which fedsim run writes after every round, or every aggregation of fedasync and fedbuff"),
    ("resume-async-garbage-checkpoint", ["resume", f"{IN}/async_garbage_checkpoint"], "checkpoint.pt is not a readable checkpoint"),
    ("resume-async-bad-config", ["resume", f"{IN}/async_bad_config"], "strategy.buffer_size=0 is not allowed"),
]

# reliability (issue 30): tracebacks, silent acceptance and leftovers a hostile probe found
CASES += [
    # fedsim resume: odd command lines, damaged run directories (nothing left behind: no lock file either)
    ("resume-no-dir", ["resume"], "arguments=[] are not allowed: one run directory (usage: fedsim resume DIR)"),
    ("resume-two-dirs", ["resume", "a", "b"], "arguments=['a', 'b'] are not allowed: one run directory"),
    ("resume-missing-dir", ["resume", "/nonexistent/run"], "run_dir='/nonexistent/run' is not allowed: a run directory written by fedsim run"),
    ("resume-binary-config", ["resume", f"{IN}/resume_binary_config"], "config.yaml='unparsable YAML' is not allowed: YAML as fedsim run wrote it (UnicodeDecodeError)"),
    ("resume-config-a-list", ["resume", f"{IN}/resume_config_list"], "<root>=[1, 2] is not allowed: a mapping of RunConfig fields"),
    ("resume-partial-checkpoint", ["resume", f"{IN}/resume_partial_checkpoint"], "is not a complete checkpoint (no config, strategy, policy, world, ledger_bytes"),
    ("resume-checkpoint-unknown-field", ["resume", f"{IN}/resume_unknown_field"], "is not a complete checkpoint (unknown surprise)"),
    ("resume-checkpoint-damaged-lengths", ["resume", f"{IN}/resume_damaged_lengths"], "is not a complete checkpoint (damaged ledger_bytes)"),
    ("resume-checkpoint-garbage", ["resume", f"{IN}/resume_garbage_checkpoint"], "it is not a file torch.save wrote, or it is damaged"),
    ("resume-checkpoint-unsafe-global", ["resume", f"{IN}/resume_unsafe_checkpoint"], "it names objects other than tensors (Unsupported global"),
    # fedsim plot: odd command lines, text where numbers belong, damaged config.yaml
    ("plot-no-dir", ["plot"], "arguments=[] are not allowed: run or sweep directories"),
    ("plot-empty-dir-name", ["plot", ""], "arguments=[''] are not allowed"),
    ("plot-option", ["plot", "--out", "x"], "arguments=['--out', 'x'] are not allowed"),
    ("plot-text-accuracy", ["plot", f"{IN}/run_text_accuracy"], "rounds.csv line 2: test_accuracy='abc' is not a number"),
    ("plot-binary-config", ["plot", f"{IN}/run_binary_config"], "config.yaml is not the YAML fedsim writes (UnicodeDecodeError)"),
    ("plot-config-a-list", ["plot", f"{IN}/run_config_list"], "config.yaml: expected a YAML mapping, got list"),
    ("plot-text-serving-cell", ["plot", f"{IN}/run_text_serving_cell"], "devices.csv line 3: serving_cell='x' is not an integer"),
    # odd command lines of run, optimize and reproduce: one line, not Hydra's usage or traceback
    ("run-dir-empty", ["run", "hydra.run.dir="], "hydra.run.dir='' is not allowed: a directory for the run's files"),
    ("sweep-dir-empty", ["run", "-m", "seed=0,1", "hydra.sweep.dir= "], "hydra.sweep.dir=' ' is not allowed"),
    ("run-overwrite-value", ["run", "--overwrite=1"], "option='--overwrite=1' is not allowed: one of --overwrite, -m"),
    ("run-config-name", ["run", "--config-name=other"], "option='--config-name=other' is not allowed"),
    ("run-experimental-rerun", ["run", "--experimental-rerun=/tmp/x.pickle"], "option='--experimental-rerun=/tmp/x.pickle' is not allowed"),
    ("optimize-overwrite", ["optimize", "--overwrite"], "(--overwrite is fedsim run's, not fedsim optimize's)"),
    ("override-without-value", ["run", "rounds"], "override='rounds' is not allowed: KEY=VALUE in Hydra's override grammar (missing EQUAL"),
    ("override-double-equals", ["run", "rounds==3"], "override='rounds==3' is not allowed: KEY=VALUE in Hydra's override grammar"),
    ("override-unclosed-list", ["run", "rounds=[1,2"], "override='rounds=[1,2' is not allowed"),
    ("sweep-override-unparsable", ["run", "-m", "rounds==1,2"], "override='rounds==1,2' is not allowed"),
    ("override-append-existing", ["run", "+rounds=3"], "An item is already at 'rounds'"),
    ("override-interpolation", ["run", "rounds=${nope}"], "rounds='${nope}' is not allowed: a value, or an interpolation ${KEY} of a key the config has"),
    ("section-null", ["run", "op=null"], "op=None is not allowed: a mapping of OperatingPoint fields"),
    ("group-null", ["run", "radio=null"], "radio=None is not allowed: one of air_to_air, green_qfl, urban_macro"),
    ("scenario-null", ["run", "scenario=null"], "scenario=None is not allowed: one of"),
    ("reproduce-override-first", ["reproduce", "seed=1"], "scenario='seed=1' is not allowed: a scenario NAME first"),
    ("float-infinite-message", ["run", "train.lr=inf"], "train.lr=inf is not allowed: a number in (0, inf)"),
    # policies: a chosen point must be integers; policy.devices is the round's K devices
    ("policy-choice-fractions", ["run", "policy=optimized", f"policy.choice_path={IN}/choice_fractions.json"], "(nbs.I=1.9 is not an integer)"),
    ("policy-choice-k-too-large", ["run", "policy=optimized", f"policy.choice_path={IN}/choice_big_k.json"], "policy.pick='nbs' is not allowed: a point with K <= world.num_devices=4 (its K=50)"),
    ("policy-choice-no-pick", ["run", "policy=optimized", f"policy.choice_path={IN}/choice_big_k.json", "policy.pick=sum"], "with a 'sum' row of integers I, K, m, n"),
    ("policy-devices-not-k", ["run", "policy=fixed", "policy.devices=[0,1,2,3]"], "policy.devices=[0, 1, 2, 3] is not allowed: a list of op.devices_per_round=2 device indices"),
    ("policy-devices-string", ["run", "policy.devices=abc"], "policy.devices='abc' is not allowed: a list of device indices"),
    ("swarm-budget-too-small", ["run", "mobility=uav_swarm", "access=ofdma", "access.resource_blocks=2", "policy=joint_power_scheduling",
                                "policy.energy_budget_j=1e-9", "world.deadline_s=1"], "policy.energy_budget_j=1e-09 is not allowed: a budget that covers one round"),
    ("mobility-formation", ["run", "mobility=uav_swarm", "mobility.formation=square"], "mobility.formation='square' is not allowed: one of ring, v, line"),
    # availability traces: read even where inert (synchronous strategies), refused when nobody is ever online
    ("availability-trace-nan-sync", ["run", "availability=trace", f"availability.trace_path={IN}/trace_nan.csv"], "start_s=nan end_s=5"),
    ("availability-trace-empty", ["run", "strategy=fedbuff", "availability=trace", f"availability.trace_path={IN}/trace_empty.csv"], "this one has none"),
    ("availability-trace-binary", ["run", "availability=trace", f"availability.trace_path={IN}/trace_binary.csv"], "a readable CSV file of device,start_s,end_s rows (UnicodeDecodeError)"),
    # language-model checkpoints: garbage weights and pickled code are one line of ours, never torch's advice
    ("lm-tinylm-garbage-weights", [*LM, f"lm.checkpoint={IN}/tinylm_garbage_pt"], "model.pt cannot be loaded with weights_only=True: it is not a file torch.save wrote"),
    ("lm-tinylm-unsafe-global", [*LM, f"lm.checkpoint={IN}/tinylm_unsafe_pt"], "model.pt cannot be loaded with weights_only=True: it names objects other than tensors"),
    ("lm-tinylm-garbage-safetensors", [*LM, f"lm.checkpoint={IN}/tinylm_garbage_safetensors"], "model.safetensors is not a valid safetensors file"),
    ("lm-hf-unsafe-global", [*LM, f"lm.checkpoint={IN}/ckpt_unsafe_global"], "pytorch_model.bin cannot be loaded with weights_only=True: it names objects other than tensors"),
    ("lm-checkpoint-number", [*LM, "lm.checkpoint=nan"], "lm.checkpoint=nan is not allowed: a local directory written by save_pretrained, or null"),
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
    np.savez(root / "npz_tokens.npz", x_train=np.arange(60).reshape(10, 6) % 7, y_train=np.arange(10) % 2,  # model=char_lstm's
             x_test=np.zeros((4, 6), np.int64), y_test=np.arange(4) % 2)
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
    # async (issue 30): killed or finished fedbuff runs
    fedbuff = "strategy:\n  name: fedbuff\n"
    _write_dirs(root, {
        "async_finished": {"config.yaml": fedbuff, "rounds.csv": GOOD_ROUNDS, "summary.json": "{}", ".fedsim.lock": ""},
        "async_no_checkpoint": {"config.yaml": fedbuff, "rounds.csv": GOOD_ROUNDS, ".fedsim.lock": ""},
        "async_garbage_checkpoint": {"config.yaml": fedbuff, "checkpoint.pt": "not a checkpoint", ".fedsim.lock": ""},
        "async_bad_config": {"config.yaml": fedbuff + "  buffer_size: 0\n", "checkpoint.pt": "", ".fedsim.lock": ""},
    })
    _write_reliability_inputs(root, llama)


def _write_reliability_inputs(root: Path, llama: dict) -> None:
    """reliability (issue 30): damaged run directories, choice files, traces and LM checkpoints."""
    import torch

    tiny = "rounds: 2\nworld:\n  num_devices: 4\nop:\n  devices_per_round: 2\n"  # a config.yaml that validates
    torch_bytes = lambda value: _torch_saved(value).decode("latin-1")  # noqa: E731
    good = {"format": 1, "round": 1, "config": {}, "arrays": {}, "strategy": {}, "policy": {}, "world": {}, "generators":
            {"torch": torch.zeros(1), "numpy": {}, "python": [3, [0], None]}, "ledger_bytes": {"rounds.csv": 0, "devices.csv": 0}, "wall_time_s": 1.0}
    tinylm = json.dumps({"model_type": "tinylm", "vocab_size": 256, "d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "context": 32})
    _write_dirs(root, {
        "resume_binary_config": {"config.yaml": "\x00\xff\xfe binary"},
        "resume_config_list": {"config.yaml": "- 1\n- 2\n"},
        "resume_partial_checkpoint": {"config.yaml": tiny, "checkpoint.pt": torch_bytes({"format": 1, "arrays": {}, "round": 1})},
        "resume_unknown_field": {"config.yaml": tiny, "checkpoint.pt": torch_bytes({**good, "surprise": 1})},
        "resume_damaged_lengths": {"config.yaml": tiny, "checkpoint.pt": torch_bytes({**good, "ledger_bytes": {"rounds.csv": "x"}})},
        "resume_garbage_checkpoint": {"config.yaml": tiny, "checkpoint.pt": "garbage, not a torch file"},
        "resume_unsafe_checkpoint": {"config.yaml": tiny, "checkpoint.pt": torch_bytes({**good, "world": _Unsafe()})},
        "run_text_accuracy": {"rounds.csv": "round,sim_time_s,energy_cum_j,test_accuracy\n0,0.0,0.0,abc\n1,1.0,0.5,def\n", "summary.json": "{}"},
        "run_binary_config": {"rounds.csv": GOOD_ROUNDS, "summary.json": "{}", "config.yaml": "\x00\xff\xfe binary"},
        "run_config_list": {"rounds.csv": GOOD_ROUNDS, "summary.json": "{}", "config.yaml": "- 1\n"},
        "run_text_serving_cell": {"rounds.csv": GOOD_ROUNDS, "summary.json": "{}",
                                  "devices.csv": "round,device,serving_cell,handovers,rlf\n1,0,3,0,0\n1,1,x,0,0\n"},
        "tinylm_garbage_pt": {"config.json": tinylm, "model.pt": "garbage bytes"},
        "tinylm_unsafe_pt": {"config.json": tinylm, "model.pt": torch_bytes({"w": _Unsafe()})},
        "tinylm_garbage_safetensors": {"config.json": tinylm, "model.safetensors": "not safetensors"},
        "ckpt_unsafe_global": {"config.json": json.dumps(llama), "pytorch_model.bin": torch_bytes({"w": _Unsafe()})},
    })
    (root / "choice_fractions.json").write_text(json.dumps({"nbs": {"I": 1.9, "K": 2.9, "m": 8, "n": 8}}))
    (root / "choice_big_k.json").write_text(json.dumps({"nbs": {"I": 1, "K": 50, "m": 8, "n": 8}}))
    (root / "trace_nan.csv").write_text("device,start_s,end_s\n0,0,3\n1,nan,5\n")
    (root / "trace_empty.csv").write_text("device,start_s,end_s\n0,1,1\n")
    (root / "trace_binary.csv").write_bytes(b"\xff\xfe\x00binary")


def _torch_saved(value) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


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
    # The lines a terminal shows: a carriage return redraws its line (a progress bar cleared by the
    # error that ended the run leaves nothing visible).
    return code, [line.split("\r")[-1] for line in err.split("\n") if line.split("\r")[-1].strip()]


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


# reliability (issue 30): what the corpus' format cannot express (exit 1 failures, no input files)
@pytest.mark.parametrize("denied", ["", ".log", ".config.yaml."], ids=["hydra-record", "hydra-log", "fedsim-config"])
def test_a_read_only_output_directory_is_one_line_and_exit_1(tmp_path, capfd, monkeypatch, denied):
    """EACCES at the first write (Hydra's record, its log file, fedsim's config.yaml): one line,
    exit 1. Simulated (chmod does not stop root): open() for writing a file below ``out`` whose
    name holds ``denied`` is refused (config.yaml is written through a temp file)."""
    import builtins
    import errno
    import io

    out, real_open = tmp_path / "out", builtins.open

    def read_only(file, mode="r", *args, **kwargs):
        if (isinstance(file, (str, Path)) and out in Path(file).parents and any(c in mode for c in "wxa+")
                and denied in Path(file).name):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only)
    monkeypatch.setattr(io, "open", read_only)
    for command in (["run"], ["optimize"]):
        code, lines = run_cli(command, out, capfd)
        assert code == 1 and len(lines) == 1 and lines[0].startswith(f"fedsim: error: {out}/"), lines
        assert lines[0].endswith(": Permission denied [EACCES]") and ".tmp" not in lines[0], lines
