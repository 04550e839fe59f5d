"""Injected faults the World applies: transient stragglers and uploads lost in the air."""

import numpy as np
import pytest

from fedsim.world import MESSAGE_LOSS, FaultConfig, RoundPlan, Workload, World, WorldConfig

WORKLOAD = Workload.green_qfl_paper()
DEVICES = np.arange(20)


def _plan(round_: int = 1) -> RoundPlan:
    k = DEVICES.size
    return RoundPlan(round=round_, devices=DEVICES, local_iters=np.full(k, 5), train_bits=np.full(k, 8),
                     uplink_bits=np.full(k, WORKLOAD.params * 8.0))


def _round(faults: FaultConfig, **world):
    config = WorldConfig.of(num_devices=DEVICES.size, faults=faults, **world)
    return World(config, WORKLOAD, seed=3).simulate_round(_plan())


def test_a_straggler_computes_slowdown_times_longer_for_the_same_energy():
    faults = FaultConfig(straggler_prob=0.5, straggler_slowdown=6.0)
    clean, slow = _round(FaultConfig()), _round(faults)
    straggler = faults.draw_round(3, 1, DEVICES).straggler
    assert 0 < straggler.sum() < DEVICES.size  # some, not all, at p = 0.5 over 20 devices
    np.testing.assert_allclose(slow.compute_s[straggler], 6.0 * clean.compute_s[straggler])
    np.testing.assert_array_equal(slow.compute_s[~straggler], clean.compute_s[~straggler])
    np.testing.assert_array_equal(slow.energy_compute_j, clean.energy_compute_j)  # same work
    assert slow.duration_s > clean.duration_s  # the server waits for the slowest


def test_a_straggler_can_miss_the_deadline_it_would_have_met():
    clean = _round(FaultConfig(), deadline_s=1.0)
    deadline_s = 1.2 * float(clean.finish_s.max() - clean.start_s)  # everyone makes it without faults
    clean = _round(FaultConfig(), deadline_s=deadline_s)
    slow = _round(FaultConfig(straggler_prob=1.0, straggler_slowdown=50.0), deadline_s=deadline_s)
    assert clean.delivered.all()
    assert not slow.delivered.any() and set(slow.drop_reason) == {"deadline"}


def test_a_lost_upload_is_paid_for_and_not_delivered():
    faults = FaultConfig(message_loss_prob=0.3)
    clean, lossy = _round(FaultConfig()), _round(faults)
    lost = faults.draw_round(3, 1, DEVICES).message_loss
    assert 0 < lost.sum() < DEVICES.size
    assert list(lossy.drop_reason[lost]) == [MESSAGE_LOSS] * int(lost.sum())
    assert lossy.delivered[~lost].all() and not lossy.delivered[lost].any()
    np.testing.assert_array_equal(lossy.energy_uplink_j, clean.energy_uplink_j)  # the energy was spent
    np.testing.assert_array_equal(lossy.upload_s, clean.upload_s)


def test_a_lost_upload_keeps_the_server_waiting_until_the_deadline():
    lossy = _round(FaultConfig(message_loss_prob=0.3), deadline_s=10.0)
    assert lossy.duration_s == pytest.approx(10.0)  # it never knows the missing upload is lost
    assert _round(FaultConfig(), deadline_s=10.0).duration_s < 10.0


def test_no_faults_leave_the_round_untouched():
    a, b = _round(FaultConfig()), _round(FaultConfig(client_crash_prob=1.0, nonfinite_prob=1.0))  # the ClientApp's faults
    for name in ("compute_s", "upload_s", "energy_compute_j", "energy_uplink_j", "finish_s", "delivered"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
