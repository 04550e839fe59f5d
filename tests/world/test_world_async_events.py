"""The event-driven world (issue 17): availability on/off and traces, stragglers, uploads whose rate
changes in flight, lost uploads, battery sleep and wake-up, each against hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.workload import Workload
from fedsim.world import World, WorldConfig
from fedsim.world._async_world import AsyncWorld
from fedsim.world._availability import AvailabilityConfig, read_trace
from fedsim.world._compute_speed import compute_slowdown
from fedsim.world._inflight_upload import InflightUpload, next_boundary_s
from fedsim.world._link import shannon_rate_bps

# One local iteration of 32 samples x 3 x 100 MACs at 9600 MAC/s takes exactly 1 s.
WORKLOAD = Workload(params=10, macs=100, activations=10, input_size=10)
ONE_SECOND_MACS = 9600.0


def async_world(seed: int = 0, **values) -> AsyncWorld:
    values.setdefault("num_devices", 3)
    values.setdefault("macs_per_s", ONE_SECOND_MACS)
    return AsyncWorld(World(WorldConfig.of(**values), WORKLOAD, seed))


def dispatch(world: AsyncWorld, device: int, iters: int, bits: float):
    return world.dispatch(device, local_iters=iters, train_bits=8, uplink_bits=bits, downlink_bits=0.0, version=0)


def next_job(world: AsyncWorld):
    """Advance past availability switches to the next completed job."""
    while (job := world.advance()) is None:
        pass
    return job


def test_next_boundary_is_the_first_multiple_after_now():
    assert next_boundary_s(0.0, 1.0) == 1.0
    assert next_boundary_s(2.5, 1.0, 0.4) == pytest.approx(2.8)
    assert next_boundary_s(3.0, 1.0) == 4.0  # on a boundary: the next one
    assert next_boundary_s(0.3 * 3, 0.3) > 0.9 - 1e-12  # 0.9/0.3 is just below 3 in floating point
    assert next_boundary_s(5.0, None, None) == math.inf


def test_an_inflight_upload_sends_at_each_segments_rate():
    # 100 bits at 10 bit/s from t=0; at t=4 the rate becomes 20 bit/s: 60 bits left, 3 s more.
    upload = InflightUpload(remaining_bits=100.0, rate_bps=10.0, since_s=0.0)
    assert upload.finish_s == 10.0
    upload.change_rate(4.0, 20.0)
    assert upload.remaining_bits == 60.0 and upload.finish_s == 7.0
    assert upload.segments == [(0.0, 10.0), (4.0, 20.0)]
    upload.advance(7.0)
    assert upload.remaining_bits == 0.0 and upload.on_air_s == 7.0


def test_an_upload_spanning_coherence_blocks_uses_each_blocks_rate():
    world = async_world(num_devices=2, coherence_s=1.0, step_s=100.0)
    channel, radio = world.world.channel, world.config.radio
    horizontal, vertical, _ = world.world.motion.geometry()
    large = channel.large_scale_gain(horizontal, vertical, 0, None)[1]

    def rate(block):  # by hand: Shannon on the full band at the block's fading
        gain = large * channel.fading(block, 2)[1]
        return float(shannon_rate_bps(radio.bandwidth_hz, radio.tx_power_w, gain, radio.noise_psd_with_figure_w_hz))

    # Ready at 1.0 s (one 1-s iteration), in block 1, and done within it.
    job = dispatch(world, 1, 1, rate(1) * 0.25)
    done = world.advance()
    assert done is job and done.delivered and done.rate_changes == 0
    assert done.finish_s == pytest.approx(1.25)
    # Ready at 2.25 s in block 2: r2 for 0.75 s, then r3 from 3.0 s for 0.5 s.
    bits = rate(2) * 0.75 + rate(3) * 0.5
    dispatch(world, 1, 1, bits)
    done = world.advance()
    assert done.delivered and done.rate_changes == 1
    assert done.upload.segments == [(2.25, pytest.approx(rate(2))), (3.0, pytest.approx(rate(3)))]
    assert done.finish_s == pytest.approx(3.5) and done.upload_s == pytest.approx(1.25)
    assert done.energy_uplink_j == pytest.approx(radio.tx_power_w * 1.25)
    assert rate(2) != rate(3)  # the blocks really differ


def test_a_mobility_step_changes_an_inflight_rate():
    world = async_world(num_devices=2, kind="random_waypoint", speed_mps=(20.0, 20.0), step_s=0.5)
    job = dispatch(world, 0, 1, 2e9)  # ready at 1 s, seconds on air at these distances
    done = world.advance()
    assert done is job and done.delivered
    starts = [start for start, _ in done.upload.segments]
    assert starts[0] == 1.0 and starts[1:4] == pytest.approx([1.5, 2.0, 2.5])  # one per step
    assert len({rate for _, rate in done.upload.segments}) == len(starts)  # the device moved each step
    assert sum(rate * (end - start) for (start, rate), end in zip(done.upload.segments, starts[1:] + [done.finish_s])) == pytest.approx(2e9)


def test_onoff_fixed_dwell_loses_an_upload_that_outlives_availability():
    world = async_world(availability=AvailabilityConfig(kind="onoff", dwell="fixed", on_s=10.0, off_s=5.0))
    assert world.idle_online().tolist() == [0, 1, 2]
    job = dispatch(world, 0, 8, 1e15)  # ready at 8 s; offline at 10 s, mid-upload
    done = next_job(world)
    assert done is job and not done.delivered and done.drop_reason == "unavailable"
    assert done.finish_s == 10.0 and done.upload_s == 2.0
    assert done.energy_uplink_j == pytest.approx(0.1 * 2.0)
    # Every device is off during [10, 15) and back at 15.
    while world.now_s < 15.0:
        world.advance()
    assert world.now_s == 15.0
    while world.idle_online().size < 3:
        world.advance()
    assert world.now_s == 15.0 and world.idle_online().tolist() == [0, 1, 2]


def test_a_job_lost_while_training_pays_the_share_it_trained():
    world = async_world(availability=AvailabilityConfig(kind="onoff", dwell="fixed", on_s=4.0, off_s=5.0))
    job = dispatch(world, 2, 8, 10.0)  # would be ready at 8 s; offline at 4 s
    full = job.energy_compute_j
    done = next_job(world)
    assert done.drop_reason == "unavailable" and done.finish_s == 4.0 and done.upload is None
    assert done.energy_compute_j == pytest.approx(full / 2)


def test_a_trace_gives_each_device_its_intervals(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("device,start_s,end_s\n0,0,5\n0,7,9\n1,2,3\n0,4,6\n")
    assert read_trace(trace, 3) == [[(0.0, 6.0), (7.0, 9.0)], [(2.0, 3.0)], []]
    world = async_world(availability=AvailabilityConfig(kind="trace", trace_path=str(trace)))
    assert world.online.tolist() == [True, False, False]
    seen = []
    while world.pending_events:
        world.advance()
        seen.append((world.now_s, world.online.tolist()))
    assert seen == [
        (2.0, [True, True, False]),
        (3.0, [True, False, False]),
        (6.0, [False, False, False]),
        (7.0, [True, False, False]),
        (9.0, [False, False, False]),
    ]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("device,start_s,end_s\n0,5,2\n", "start_s=5 end_s=2"),
        ("device,start_s,end_s\n7,0,1\n", "device=7"),
        ("device,begin,end\n0,0,1\n", "header is device,start_s,end_s"),
        ("device,start_s,end_s\n0,zero,1\n", "0,zero,1"),
    ],
)
def test_a_bad_trace_is_a_one_line_error(tmp_path, text, fragment):
    trace = tmp_path / "trace.csv"
    trace.write_text(text)
    with pytest.raises(ConfigError, match="availability.trace_path") as error:
        read_trace(trace, 3)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_stragglers_are_an_exact_fraction_slowed_by_the_factor():
    cfg = WorldConfig.of(num_devices=10, macs_per_s=ONE_SECOND_MACS, straggler_fraction=0.3, straggler_slowdown=10.0)
    slow = compute_slowdown(cfg.devices, 10, 3)
    assert sorted(slow.tolist()) == [1.0] * 7 + [10.0] * 3
    world = World(cfg, WORKLOAD, 3)
    seconds, _ = world.compute_cost(np.arange(10), np.full(10, 2), np.full(10, 8))
    assert seconds.tolist() == (2.0 * slow).tolist()  # the synchronous world slows them too
    plain = World(WorldConfig.of(num_devices=10, macs_per_s=ONE_SECOND_MACS), WORKLOAD, 3)
    assert plain.slowdown.tolist() == [1.0] * 10
    assert plain.compute_cost(np.arange(10), np.full(10, 2), np.full(10, 8))[0].tolist() == [2.0] * 10


def test_a_speed_spread_is_log_normal_per_seed():
    cfg = WorldConfig.of(num_devices=2000, speed_sigma=0.5)
    slow = compute_slowdown(cfg.devices, 2000, 1)
    assert np.std(np.log(slow)) == pytest.approx(0.5, rel=0.05)
    assert np.array_equal(slow, compute_slowdown(cfg.devices, 2000, 1))


def test_an_emptied_battery_sleeps_until_harvesting_recharges_it():
    # Compute costs more than the 1e-9 J battery: lost at ready (1 s), asleep, wakes when
    # 0.5 x 1e-9 J has been harvested at 1e-10 W: 5 s later.
    world = async_world(battery_j=1e-9, harvest_w=1e-10)
    job = dispatch(world, 0, 1, 10.0)
    assert job.energy_compute_j > 1e-9
    done = world.advance()
    assert done.drop_reason == "battery" and done.battery_j == 0.0 and world.asleep[0]
    assert 0 not in world.idle_online()
    assert world.advance() is None
    assert world.now_s == pytest.approx(1.0 + 5.0) and not world.asleep[0]
    assert world.world.battery.level_j[0] == pytest.approx(0.5e-9)


def test_the_event_world_is_deterministic_per_seed():
    def trajectory(seed):
        world = async_world(seed, num_devices=20, availability=AvailabilityConfig(kind="onoff", on_s=3.0, off_s=2.0), straggler_fraction=0.3)
        out = []
        for _ in range(200):
            for device in world.idle_online()[:3]:
                dispatch(world, int(device), 2, 1e6)
            job = world.advance()
            if job is not None:
                out.append((job.device, job.finish_s, job.drop_reason))
        return out

    assert trajectory(4) == trajectory(4)
    assert trajectory(4) != trajectory(5)


def test_bad_availability_values_are_one_line_errors():
    with pytest.raises(ConfigError, match="kind='sometimes'"):
        AvailabilityConfig(kind="sometimes")
    with pytest.raises(ConfigError, match="trace_path=None"):
        AvailabilityConfig(kind="trace")
    with pytest.raises(ConfigError, match="straggler_slowdown=0.5"):
        WorldConfig.of(straggler_slowdown=0.5)


def test_idle_device_and_count_follow_the_idle_online_list():
    # 300 devices switching on and off, 40 jobs at a time: after every event the pick list holds
    # exactly the mask's idle devices (each once), its count is theirs, and a k out of range is an
    # error. Picks by position are O(1), so the list is in history order, not index order.
    world = async_world(num_devices=300, availability=AvailabilityConfig(kind="onoff", on_s=2.0, off_s=1.0))
    rng = np.random.default_rng(7)
    checked = reordered = 0
    for _ in range(400):
        while world.busy < 40 and world.idle_count:
            idle = world.idle_online()
            assert world.idle_count == idle.size
            picks = [world.idle_device(k) for k in range(idle.size)]
            assert sorted(picks) == idle.tolist()
            checked += idle.size
            reordered += picks != idle.tolist()
            dispatch(world, world.idle_device(int(rng.integers(idle.size))), 1, 100.0)
        world.advance()
    assert checked > 10_000 and reordered > 0
    with pytest.raises(IndexError):
        world.idle_device(world.idle_count)


@pytest.mark.parametrize("macs_per_s", [1e9, 2e6])
def test_planned_in_step_rate_changes_match_queueing_each_one(macs_per_s):
    # Uploads spanning many 1 ms blocks on devices that go off every ~50 ms: applying a step's
    # block changes at scheduling (undone after a loss), and starting an upload at dispatch when
    # training ends inside the step (undone when the device goes off while training), give the
    # same jobs and the same event count after every advance as queueing one event for each.
    # 1e9 MAC/s trains in ~10 us (every job ready in its step); 2e6 MAC/s in ~5 ms (some not, and
    # some devices go off while training).
    def run(plan_ahead: bool):
        config = WorldConfig.of(num_devices=60, coherence_s=0.001, kind="random_waypoint", step_s=0.013, macs_per_s=macs_per_s,
                                availability=AvailabilityConfig(kind="onoff", on_s=0.05, off_s=0.03))
        world = AsyncWorld(World(config, WORKLOAD, 4))
        world._plan_ahead = plan_ahead
        rng, out = np.random.default_rng(2), []
        for _ in range(600):
            while world.busy < 20 and world.idle_count:
                world.dispatch(world.idle_device(int(rng.integers(world.idle_count))), local_iters=1, train_bits=8,
                               uplink_bits=3e5, downlink_bits=0.0, version=0)
            job = world.advance()
            out.append(world.events_processed)
            if job is not None:
                out.append((job.device, job.finish_s, job.upload_s, job.rate_changes, job.energy_j, job.drop_reason,
                            job.upload is None, job.channel_gain))
        return out

    planned, queued = run(True), run(False)
    assert planned == queued
    jobs = [x for x in queued if isinstance(x, tuple)]
    assert sum(j[3] for j in jobs) > 1_000 and any(j[5] == "unavailable" and j[3] > 0 for j in jobs)
    if macs_per_s < 1e9:
        assert any(j[5] == "unavailable" and j[6] for j in jobs)  # lost while training: no upload began
