"""The sequential engine's lean path: torch's SGD update without torch.optim (no dynamo import),
the fused quantizer, and the same ledger bytes as before either change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from run_helpers import PINNED_SYNC_LEDGER, PINNED_SYNC_OVERRIDES

from fedsim.tasks._optimizer import PlainSGD
from fedsim.qnn import quantize

ROOT = Path(__file__).resolve().parents[2]


def _reference_quantize(x, bits, *, clip, stochastic=False, generator=None):
    """The quantizer as it was written before fusing (clamp, scale, round, divide, detach)."""
    source = torch.clamp(x, -1.0, 1.0) if clip else x
    with torch.no_grad():
        if bits == 1:
            rounded = torch.where(source >= 0, torch.ones_like(source), -torch.ones_like(source))
        else:
            scale = 2.0 ** (bits - 1)
            scaled = source * scale
            if stochastic:
                noise = torch.rand(source.shape, generator=generator, dtype=source.dtype)
                rounded = torch.floor(scaled + noise) / scale
            else:
                rounded = torch.round(scaled) / scale
    return source + (rounded - source).detach()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bits", [1, 2, 5, 8, 16])
@pytest.mark.parametrize("stochastic", [False, True])
@pytest.mark.parametrize("clip", [False, True])
def test_the_fused_quantizer_gives_the_reference_bytes_and_gradients(dtype, bits, stochastic, clip):
    base = torch.randn(257, generator=torch.Generator().manual_seed(bits), dtype=dtype) * 1.7
    x_new, x_ref = base.clone().requires_grad_(), base.clone().requires_grad_()
    g_new, g_ref = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    q_new = quantize(x_new, bits, clip=clip, stochastic=stochastic, generator=g_new)
    q_ref = _reference_quantize(x_ref, bits, clip=clip, stochastic=stochastic, generator=g_ref)
    assert torch.equal(q_new, q_ref)
    weights = torch.linspace(-2, 2, 257, dtype=dtype)
    (q_new * weights).sum().backward()
    (q_ref * weights).sum().backward()
    assert torch.equal(x_new.grad, x_ref.grad)
    assert torch.equal(g_new.get_state(), g_ref.get_state())  # the same draws were consumed


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_plain_sgd_steps_as_torch_sgd_bit_for_bit(momentum):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    twin = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    twin.load_state_dict(model.state_dict())
    ours = PlainSGD(model.parameters(), lr=0.1, momentum=momentum)
    theirs = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=momentum)
    x = torch.randn(32, 6)
    for step in range(4):
        for net, opt in ((model, ours), (twin, theirs)):
            opt.zero_grad(set_to_none=True)
            net(x[step * 8 : step * 8 + 8]).square().mean().backward()
            opt.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)


# rounds.csv and devices.csv of this run as main's code (torch.optim.SGD, the unfused quantizer)
# wrote them: the lean path must not move a byte.
PINNED_LEDGER = PINNED_SYNC_LEDGER

_SCRIPT = """
import hashlib, sys, fedsim
from pathlib import Path
out = Path(sys.argv[1])
fedsim.run(fedsim.compose(%r), out)
for name in ("rounds.csv", "devices.csv"):
    print(name, hashlib.sha256((out / name).read_bytes()).hexdigest())
print("dynamo", "torch._dynamo" in sys.modules)
""" % (PINNED_SYNC_OVERRIDES,)


def test_a_run_keeps_the_ledger_bytes_and_never_imports_dynamo(tmp_path):
    # A fresh process: another test in this session may have imported dynamo already.
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines()[-3:])
    assert lines["dynamo"] == "False"
    assert {k: lines[k] for k in PINNED_LEDGER} == PINNED_LEDGER
