"""Expected uplink energy per bit, E[P/r], by Monte Carlo over the World's own Channel.

This is what the analytic model of ``fedsim optimize`` charges for one transmitted bit: the same
path-loss model (its LoS draws), shadowing, fading, noise figure, antenna gains and access
scheme that ``simulate_round`` uses, so the optimizer and the simulator price the same channel.
"""

from __future__ import annotations

import numpy as np

from fedsim._checks import check_int
from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream
from fedsim.world._fading import fading_power
from fedsim.world._link import shannon_rate_bps
from fedsim.world._mobility import distances_to_bs
from fedsim.world._motion import drop_devices

# Monte-Carlo drops are evaluated in blocks so drops x devices never exceeds this many floats.
_MC_BLOCK_ELEMENTS = 1 << 20


def _band_share(world, devices_per_round: int) -> float:
    """The fraction of the band one upload gets: FDMA splits it among the K selected devices,
    OFDMA gives one resource block, orthogonal and TDMA the whole band."""
    access = world.config.access
    if access.scheme == "fdma":
        return 1.0 / check_int("op.devices_per_round", devices_per_round, 1)
    if access.scheme == "ofdma":
        return 1.0 / access.resource_blocks
    return 1.0


def _placements(world, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count·N,) horizontal distances of fresh drops with the world's placement rule."""
    site = world.config.deployment
    positions = drop_devices(world.config, count * site.num_devices, rng)
    return distances_to_bs(positions, site.bs_position_m)


def expected_uplink_energy_per_bit(
    world,
    weights: np.ndarray | None = None,
    *,
    drops: int = 10_000,
    seed: int | None = None,
    redraw_positions: bool = False,
    devices_per_round: int = 1,
) -> float:
    """Monte-Carlo E of Σ_i w_i·P / r_i in joules per bit, r_i = b·log2(1 + P·g_i/(b·N0·NF)) (under
    ``radio.rate_model`` nr or lte: the link abstraction's payload bits per second on air, its MCS's
    TBS over the expected HARQ transmissions).

    Multiply by the payload (e.g. d·m bits) to get the expected uplink energy of a sampled
    device. Weights default to uniform 1/N and are normalised to sum to 1 (p_i ∝ 1/σ_i² is fine).
    g_i is the World's large-scale gain (path loss with its LoS draw, shadowing, antennas) times
    the configured fading; b is the band one upload gets under the access scheme. As in the
    Green-QFL release, each drop draws ONE fading value shared by all devices.

    By default the expectation is over fading (and the drop-by-drop LoS, shadowing and pointing
    draws) for this world's placement; ``redraw_positions=True`` also redraws every ground
    device's position in each drop, as the release (Get_comm_parameter.m) does. A swarm keeps its
    formation.

    With Rayleigh fading E[1/log2(1 + aX)] diverges logarithmically (deep fades), so the estimate
    grows slowly with ``drops`` and is seed-sensitive: fix and report both. Streams:
    ``(seed, "uplink_energy_mc")`` for fading, ``(seed, "uplink_energy_mc_placement")`` for
    redrawn positions, ``(seed, "uplink_energy_mc_large_scale", block)`` for the per-drop LoS,
    shadowing and pointing; ``seed`` defaults to the world's seed.
    """
    radio = world.config.radio
    n = world.config.num_devices
    if weights is None:
        w = np.full(n, 1.0 / n)
    else:
        w = np.asarray(weights, dtype=float).reshape(-1)
        if w.size != n or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ConfigError("weights", weights, f"{n} finite non-negative numbers with a positive sum")
        w = w / w.sum()
    drops = check_int("drops", drops, 1)
    if seed is not None:
        check_int("seed", seed, 0)
    stream_seed = world.seed if seed is None else int(seed)
    fading = fading_power(radio.fading, numpy_stream(stream_seed, "uplink_energy_mc"), drops, **radio.fading_params)
    placement_rng = numpy_stream(stream_seed, "uplink_energy_mc_placement")
    band_hz = radio.bandwidth_hz * _band_share(world, devices_per_round)
    noise = radio.noise_psd_with_figure_w_hz
    power = radio.tx_power_w
    channel = world.channel
    horizontal_now, vertical_now, _ = world.motion.geometry()
    moved = redraw_positions and world.config.mobility.kind != "uav_swarm"  # a swarm keeps its formation
    # A deterministic model at a fixed placement (the default setup) is one gain for every drop;
    # otherwise LoS, shadowing and pointing are drawn for every (drop, device), as a round would.
    fixed_large = None if (moved or channel.draws_large_scale) else channel.large_scale_gain(horizontal_now, vertical_now, 0)[None, :]

    total = 0.0
    block = max(1, _MC_BLOCK_ELEMENTS // n)
    for index, start in enumerate(range(0, drops, block)):
        fade = fading[start : start + block, None]
        count = fade.shape[0]
        if fixed_large is not None:
            large = fixed_large
        else:
            horizontal = _placements(world, count, placement_rng).reshape(count, n) if moved else np.broadcast_to(horizontal_now, (count, n))
            vertical = np.broadcast_to(vertical_now, (count, n))
            # pointing errors are drawn per drop (None), never the realised ones
            large = channel.large_scale_gain(horizontal, vertical, index, None, seed=stream_seed, purpose="uplink_energy_mc")
        if world.rate_model is None:
            rate = shannon_rate_bps(band_hz, power, fade * large, noise)
        else:  # payload bits per second on air: the link abstraction's TBS over E[HARQ transmissions]
            rate = _link_abstraction_rate_bps(world, power * fade * large, devices_per_round)
        total += float(np.sum((power / rate) @ w))
    return total / drops


def _link_abstraction_rate_bps(world, received_w: np.ndarray, devices_per_round: int) -> np.ndarray:
    """The rate model's payload bits per second on air of uploads received at ``received_w``
    (P·g), each on the PRBs the access scheme gives it (fdma: the carrier's PRBs split K ways)."""
    total = world.full_band_prbs()
    n_prb = max(total // check_int("op.devices_per_round", devices_per_round, 1), 1) if world.config.access.scheme == "fdma" else total
    flat = received_w.reshape(-1)
    prbs = np.full(flat.shape, n_prb)
    sinr, occupied_hz = world.link_abstraction_sinr(flat, prbs)
    csi = world.link_adaptation_sinr(flat, sinr)
    return world.rate_model.airtime_rate_bps(sinr, occupied_hz, n_prb=prbs, csi_sinr_linear=csi).reshape(received_w.shape)
