"""A straightforward discrete-event world: one simpy process per device (the benchmark baseline).

Each selected device is its own process: wait for the broadcast, compute, queue for the channel
(a simpy Resource for TDMA), transmit, arrive. The server waits for all arrivals or the deadline
with ``AllOf(...) | timeout``. Per-device physics is scalar Python. It shares the vectorized
World's state (placement, batteries, random streams) so both must give identical outcomes: the
test suite checks that, and ``world_throughput.py`` times the two.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from fedsim.rng import numpy_stream
from fedsim.world import World


class NaiveWorld:
    def __init__(self, world: World) -> None:
        if world.config.access.scheme not in ("orthogonal", "fdma", "tdma"):
            raise ValueError("the naive world covers orthogonal, fdma and tdma access")
        self.world = world  # placement, channel streams and batteries
        self.env = simpy.Environment()

    def simulate_round(self, plan) -> dict[str, np.ndarray]:
        w, cfg, env = self.world, self.world.config, self.env
        devices = [int(d) for d in plan.devices]
        t0 = env.now
        horizontal, vertical, pointing = w.motion.geometry()
        large = w.channel.large_scale_gain(horizontal, vertical, plan.round, pointing)
        fading = w.channel.fading(plan.round, cfg.num_devices)
        loss_draws = numpy_stream(w.seed, "packet-error", plan.round).random(cfg.num_devices)
        radio = cfg.radio
        noise_psd = radio.noise_psd_with_figure_w_hz
        deadline_s = cfg.deployment.deadline_s
        k = len(devices)
        download_s = 0.0
        if radio.downlink_power_w is not None and plan.downlink_bits > 0 and k:
            worst = min(
                radio.bandwidth_hz * math.log2(1 + radio.downlink_power_w * large[d] * fading[d] / (noise_psd * radio.bandwidth_hz))
                for d in devices
            )
            download_s = plan.downlink_bits / worst
        channel = simpy.Resource(env, capacity=1) if cfg.access.scheme == "tdma" else None
        deadline = math.inf if deadline_s is None else t0 + deadline_s
        deadline_event = env.timeout(deadline_s) if deadline_s is not None else env.event()
        results: dict[int, dict] = {}
        arrived = {d: env.event() for d in devices}

        def device(i: int, d: int):
            iters = float(plan.local_iters[i])
            energy_compute = iters * float(cfg.energy.train_iteration_energy(int(plan.train_bits[i]), w.workload))
            compute_s = iters * cfg.batch_size * 3.0 * w.workload.macs / cfg.devices.macs_per_s
            energy_download = cfg.devices.rx_power_w * download_s
            band = radio.bandwidth_hz / k if cfg.access.scheme == "fdma" else radio.bandwidth_hz
            gain = large[d] * fading[d]
            rate = band * math.log2(1 + radio.tx_power_w * gain / (noise_psd * band))
            bits = float(plan.uplink_bits[i])
            air = bits / rate if bits > 0 else 0.0
            level = float(w.battery.level_j[d])
            before = energy_download + energy_compute
            budget = 0.0 if level < before else (level - before) / radio.tx_power_w
            on_air = min(air, budget)
            dies = level < before or on_air < air
            record = {"finish_s": math.inf, "energy_j": min(before, level), "drop_reason": "battery" if dies else "deadline"}
            results[d] = record
            ready = env.timeout(download_s + compute_s)
            if ready not in (yield ready | deadline_event):
                return  # the round closed while it was still computing
            request = channel.request() if channel is not None else None
            if request is not None and request not in (yield request | deadline_event):
                request.cancel()
                return  # still queued for the channel at the deadline
            start = env.now
            transmission = env.timeout(on_air)
            done = transmission in (yield transmission | deadline_event)
            if request is not None:
                channel.release(request)
            record["finish_s"] = start + on_air
            record["energy_j"] = before + radio.tx_power_w * ((start + on_air if done else env.now) - start)
            if dies and done:
                record["energy_j"] = level  # ran dry: spent exactly what it had
            if dies:
                if not math.isfinite(deadline):
                    arrived[d].succeed()  # without a deadline the server learns of the failure
                return
            corrupted = False
            if radio.waterfall_threshold is not None:
                q = 1.0 - math.exp(-radio.waterfall_threshold * noise_psd * band / (radio.tx_power_w * gain))
                corrupted = loss_draws[d] < q
            if done:
                record["drop_reason"] = "packet_error" if corrupted else ""
                arrived[d].succeed()

        processes = [env.process(device(i, d)) for i, d in enumerate(devices)]
        ends = []

        def server():
            yield simpy.AllOf(env, list(arrived.values())) | deadline_event
            ends.append(env.now)
            yield simpy.AllOf(env, processes)  # every device stops by now (or at the deadline)

        env.run(until=env.process(server()))
        round_end = max(ends[0], t0 + download_s)
        w.battery.drain(np.array([results[d]["energy_j"] for d in devices]), np.array(devices, dtype=np.int64))
        w.battery.harvest(round_end - t0)
        return {
            "finish_s": np.array([results[d]["finish_s"] for d in devices]),
            "energy_j": np.array([results[d]["energy_j"] for d in devices]),
            "drop_reason": np.array([results[d]["drop_reason"] for d in devices], dtype=object),
            "duration_s": round_end - t0,
        }
