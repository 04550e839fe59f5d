"""Overhead of fedsim's federated machinery over a plain PyTorch loop doing the same learning.

Both sides run the same workload (50 devices, quantized MLP on the embedded digits, K devices
per round, I local iterations, m-bit uplink) with the same building blocks: the seeded device
sampler, ``train_locally``, the uplink codec, ``weighted_average`` and the server evaluation.
The federated side adds what fedsim adds: Flower messages and records, the in-process Grid, the
strategy, the World's energy accounting and the ledger. Both are timed in this run, alternating,
and the ratio of their medians is printed (target <= 1.1), with the ratio of their minima (the
machine is shared: the minimum is the run least disturbed by others) and the median of the
per-pair ratios (each engine run over the plain run just before it).

    python benchmarks/engine_overhead.py [--rounds 20] [--repeats 7]

The last line is one JSON object with "overhead_ratio" (of the medians), "overhead_ratio_min",
"overhead_ratio_paired_median" and "met" (the paired median against the 1.1 target: the figure
least moved by others' load).
"""

from __future__ import annotations

import argparse
import json
import sys
import statistics
import time
from pathlib import Path

import numpy as np
import torch

# Run as a script, sys.path[0] is benchmarks/ itself, where benchmarks/kernels.py would shadow the
# kernels package: put the repository root first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_load_average  # noqa: E402

import fedsim
from fedsim.config import RunConfig
from fedsim.control import sample_devices
from fedsim.tasks import ClassifierTask, evaluate, train_locally, weighted_average
from fedsim.rng import numpy_stream
from fedsim.torch_rng import torch_stream
from fedsim.uplink import decode_update, encode_update


def workload(rounds: int) -> RunConfig:
    return RunConfig.from_mapping(
        {
            "rounds": rounds,
            "world": {"num_devices": 50},
            "op": {"train_bits": 8, "uplink_bits": 8, "local_iters": 5, "devices_per_round": 10},
            "model": {"name": "mlp"},
        }
    )


def plain_pytorch_loop(config: RunConfig) -> float:
    """The same learning with no FL framework: tensors in, tensors out."""
    job = ClassifierTask(config)
    model = job.new_model()
    server_model = job.new_model()
    state = {k: v.clone() for k, v in server_model.state_dict().items()}
    op, train = config.op, config.train
    accuracy = 0.0
    for server_round in range(1, config.rounds + 1):
        global_arrays = [state[k].numpy().copy() for k in job.update_keys]
        updates, weights = [], []
        for device in sample_devices(config.seed, server_round, range(config.world.num_devices), op.devices_per_round):
            model.load_state_dict(state)
            data = job.device_data(int(device))
            train_locally(
                model, data, iterations=op.local_iters, batch_size=train.batch_size, lr=train.lr,
                momentum=train.momentum, train_bits=op.train_bits, rounding=train.rounding,
                generator=torch_stream(config.seed, "local-training", int(device), server_round),
            )
            local = model.state_dict()
            delta = [local[k].numpy() - g for k, g in zip(job.update_keys, global_arrays)]
            encoded = encode_update(delta, op.uplink_bits, numpy_stream(config.seed, "uplink-quantizer", int(device), server_round))
            updates.append(decode_update(encoded, job.update_shapes))
            weights.append(len(data))
        for key, d in zip(job.update_keys, weighted_average(updates, weights)):
            state[key] = state[key] + torch.from_numpy(d)
        server_model.load_state_dict(state)
        _, accuracy = evaluate(server_model, job.data.test, bits=op.train_bits)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    loads = print_load_average()
    if args.repeats < 1 or args.rounds < 1:
        parser.error(f"--repeats={args.repeats} --rounds={args.rounds}: both must be >= 1")
    config = workload(args.rounds)
    ClassifierTask(config).data  # warm caches and imports outside the timed region, for both sides
    fedsim.run(workload(1))
    plain_pytorch_loop(workload(1))

    plain_s, engine_s = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        plain_acc = plain_pytorch_loop(config)
        plain_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = fedsim.run(config)
        engine_s.append(time.perf_counter() - t)
    ratio = statistics.median(engine_s) / statistics.median(plain_s)
    ratio_min = min(engine_s) / min(plain_s)
    # Each engine run over the plain run just before it: others' load drifts slowly, so a pair
    # sees about the same machine.
    ratio_paired = statistics.median(e / p for e, p in zip(engine_s, plain_s))
    print(f"plain PyTorch loop : median {statistics.median(plain_s):.3f} s  {plain_s}")
    print(f"in-process engine  : median {statistics.median(engine_s):.3f} s  {engine_s}")
    print(f"final accuracy     : plain {plain_acc:.4f}  engine {result.final_accuracy:.4f}")
    print(f"overhead           : {ratio:.3f}x (medians), {ratio_min:.3f}x (minima), {ratio_paired:.3f}x (median of pairs) over {args.repeats} repeats")
    print(
        json.dumps(
            {
                "benchmark": "engine_overhead",
                "devices": config.world.num_devices,
                "devices_per_round": config.op.devices_per_round,
                "rounds": config.rounds,
                "plain_s": statistics.median(plain_s),
                "engine_s": statistics.median(engine_s),
                "repeats": args.repeats,
                "plain_min_s": min(plain_s),
                "engine_min_s": min(engine_s),
                "overhead_ratio": ratio,
                "overhead_ratio_min": ratio_min,
                "overhead_ratio_paired_median": ratio_paired,
                "same_accuracy": bool(np.isclose(plain_acc, result.final_accuracy)),
                "target": 1.1,
                "met": bool(ratio_paired <= 1.1),  # the pairs: the statistic least moved by others' load
                "loadavg_1min_at_start": round(loads[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
