"""The vectorized world and the one-process-per-device baseline give identical outcomes."""

import numpy as np
import pytest

from benchmarks.naive_world import NaiveWorld
from fedsim.world import AccessConfig, DeviceConfig, RoundPlan, Workload, World, WorldConfig

WORKLOAD = Workload(params=20_000, macs=2e4, activations=200, input_size=64)


# Deadlines that leave some devices late under each scheme (FDMA and TDMA uploads take longer).
@pytest.mark.parametrize(("scheme", "deadline_s"), [("orthogonal", 0.02), ("fdma", 0.03), ("tdma", 0.3)])
def test_identical_outcomes_over_several_rounds(scheme, deadline_s):
    def make():
        cfg = WorldConfig.of(
            num_devices=40,
            access=AccessConfig(scheme=scheme),
            deadline_s=deadline_s,
            waterfall_threshold=20.0,
            downlink_power_w=1.0,
            devices=DeviceConfig(battery_j=0.003, rx_power_w=0.05),
        )
        return World(cfg, WORKLOAD, seed=5)

    fast, slow_world = make(), make()
    slow = NaiveWorld(slow_world)
    seen = set()
    for r in range(1, 6):
        devices = fast.available_devices()[:30]
        assert np.array_equal(devices, slow_world.available_devices()[:30])
        k = devices.size
        plan = RoundPlan(r, devices, np.full(k, 5), np.full(k, 8), np.full(k, 8 * 20_000.0), 32 * 20_000.0)
        a, b = fast.simulate_round(plan), slow.simulate_round(plan)
        assert list(a.drop_reason) == list(b["drop_reason"])
        delivered = a.delivered
        assert np.allclose(a.finish_s[delivered], b["finish_s"][delivered], rtol=1e-12)
        assert np.allclose(a.energy_compute_j + a.energy_uplink_j + a.energy_download_j, b["energy_j"], rtol=1e-9)
        assert a.duration_s == pytest.approx(b["duration_s"], rel=1e-12)
        assert np.allclose(fast.battery.level_j, slow_world.battery.level_j, rtol=1e-9)
        seen.update(a.drop_reason)
    assert len(seen & {"", "deadline", "packet_error", "battery"}) >= 3 and "battery" in seen
