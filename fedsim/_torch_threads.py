"""Torch's intra-op threads, chosen per run from the workload and the CPU share the process has.

Inherited defaults hurt: torch starts one intra-op thread per core, and a small model's local step
(microseconds of arithmetic per op) then pays a thread hand-off per op. Under load, or beside a
parallel sweep's other jobs, those hand-offs wait for a core and a run goes 3-7x slower than with
one thread. So a run whose local step is small trains on one thread, and a run whose step is large
enough to split uses the cores the process may actually run on: its CPU affinity, or the share a
parallel launcher gave it (joblib's workers get ``OMP_NUM_THREADS`` = cores // jobs). The key
``torch_threads`` overrides the choice; ``summary.json`` records what the run used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

# MACs of one local step (batch x (forward + backward) per example) below which one thread is
# faster: a 2-core split of such a step saves less than its per-op synchronization costs. The
# digits MLP's step is 1.4 M MACs, the MNIST CNN's 7.8 M; the CIFAR models' are above 1 G.
SMALL_STEP_MACS = 5.0e7


def cpu_share(environ: Mapping[str, str] = os.environ) -> int:
    """Cores this process may use: its affinity mask, capped by ``OMP_NUM_THREADS`` where a
    launcher (or the user) set it."""
    try:
        share = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity API (macOS, Windows)
        share = os.cpu_count() or 1
    given = environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) >= 1:
        share = min(share, int(given))
    return max(share, 1)


def choose_torch_threads(requested: int | None, step_macs: float, share: int) -> int:
    """``requested`` if set, else one thread for a small step, else the CPU share."""
    if requested is not None:
        return requested
    return 1 if step_macs < SMALL_STEP_MACS else share


@contextmanager
def torch_threads(count: int) -> Iterator[int]:
    """Torch's intra-op threads set to ``count`` for the block, then restored (a notebook or a
    test that runs several experiments keeps its own setting)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(previous)
