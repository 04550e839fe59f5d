"""Link budget, rates, airtime, multiple access and packet errors (all SI, vectorized over devices).

SINR = P·G_t·G_r·|h|²·10^(-PL/10) / (N0·B·NF + I), rate = B·log2(1 + SINR) (Shannon); an upload
of b bits takes b/rate seconds and P·b/rate joules of radiated energy (no circuit power).
Multiple access: FDMA splits the band and everyone sends at once; TDMA gives each device the whole
band in turn; OFDMA puts at most one device on each resource block (Hungarian assignment).
Packet error: q = 1 - exp(-m_w·(I + B·N0)/(P·h)) (Chen et al., IEEE TWC 2021, waterfall threshold m_w).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_choice, check_float, check_int
from fedsim.errors import ConfigError

# -174 dBm/Hz, thermal noise at 290 K: 10^(-17.4)·1e-3 W/Hz ≈ 3.98e-21 W/Hz.
THERMAL_NOISE_PSD_W_HZ = 10.0 ** (-174.0 / 10.0) * 1e-3
# "orthogonal": each device has a dedicated channel of the full bandwidth, all at once (the
# Green-QFL model, which prices every upload at the full-band rate).
ACCESS_SCHEMES: tuple[str, ...] = ("orthogonal", "fdma", "tdma", "ofdma")
_LN2 = np.log(2.0)


@dataclass(frozen=True)
class AccessConfig:
    """Multiple access: ``scheme`` in ACCESS_SCHEMES; OFDMA splits the band into ``resource_blocks``."""

    scheme: str = "fdma"  # how the uplink band is shared: orthogonal (a full-band channel each) | fdma | tdma | ofdma
    resource_blocks: int = 1  # ofdma: blocks the band is cut into, at most one device on each

    def __post_init__(self) -> None:
        check_choice("scheme", self.scheme, ACCESS_SCHEMES)
        check_int("resource_blocks", self.resource_blocks, 1)

    def rb_bandwidth_hz(self, bandwidth_hz: float) -> float:
        """Bandwidth of one resource block: B / resource_blocks."""
        return check_float("radio.bandwidth_hz", bandwidth_hz, low=0, low_open=True) / self.resource_blocks

    def check_devices(self, num_devices: int) -> None:
        """OFDMA cannot serve more devices than resource blocks in one slot."""
        if self.scheme == "ofdma":
            _check_rbs(num_devices, self.resource_blocks)


def _check_rbs(num_devices: int, resource_blocks: int) -> None:
    if num_devices > resource_blocks:
        raise ConfigError(
            "access.resource_blocks",
            resource_blocks,
            f"at least {num_devices} (one device per resource block, {num_devices} devices)",
        )


def _f(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _check_bandwidth(bandwidth_hz: ArrayLike) -> np.ndarray:
    b = _f(bandwidth_hz)
    if not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise ConfigError("radio.bandwidth_hz", bandwidth_hz, "finite numbers > 0")
    return b


def noise_power_w(
    bandwidth_hz: ArrayLike,
    noise_psd_w_hz: ArrayLike = THERMAL_NOISE_PSD_W_HZ,
    noise_figure_db: ArrayLike = 0.0,
) -> np.ndarray:
    """Receiver noise N0·B·10^(NF/10) in watts."""
    return _f(noise_psd_w_hz) * _check_bandwidth(bandwidth_hz) * 10.0 ** (_f(noise_figure_db) / 10.0)


def link_gain(
    path_loss_db: ArrayLike,
    tx_gain_db: ArrayLike = 0.0,
    rx_gain_db: ArrayLike = 0.0,
    fading: ArrayLike = 1.0,
) -> np.ndarray:
    """Linear end-to-end power gain |h|²·10^((G_t + G_r - PL)/10)."""
    return _f(fading) * 10.0 ** ((_f(tx_gain_db) + _f(rx_gain_db) - _f(path_loss_db)) / 10.0)


def sinr(
    tx_power_w: ArrayLike,
    path_loss_db: ArrayLike,
    bandwidth_hz: ArrayLike,
    *,
    tx_gain_db: ArrayLike = 0.0,
    rx_gain_db: ArrayLike = 0.0,
    fading: ArrayLike = 1.0,
    noise_psd_w_hz: ArrayLike = THERMAL_NOISE_PSD_W_HZ,
    noise_figure_db: ArrayLike = 0.0,
    interference_w: ArrayLike = 0.0,
) -> np.ndarray:
    """Link budget → linear SINR = P·|h|²·10^((G_t + G_r - PL)/10) / (N0·B·10^(NF/10) + I).

    With ``interference_w = 0`` this is the SNR.
    """
    signal = _f(tx_power_w) * link_gain(path_loss_db, tx_gain_db, rx_gain_db, fading)
    return signal / (noise_power_w(bandwidth_hz, noise_psd_w_hz, noise_figure_db) + _f(interference_w))


def rate_bps(bandwidth_hz: ArrayLike, sinr_linear: ArrayLike) -> np.ndarray:
    """Shannon rate B·log2(1 + SINR) in bit/s (log1p: exact at tiny SINR)."""
    return _f(bandwidth_hz) * np.log1p(_f(sinr_linear)) / _LN2


def shannon_rate_bps(
    bandwidth_hz: ArrayLike,
    tx_power_w: ArrayLike,
    channel_gain: ArrayLike,
    noise_psd_w_hz: ArrayLike,
) -> np.ndarray:
    """Interference-free rate B·log2(1 + P·h / (B·N0)) in bit/s, ``channel_gain`` h linear."""
    snr = _f(tx_power_w) * _f(channel_gain) / noise_power_w(bandwidth_hz, noise_psd_w_hz)
    return rate_bps(bandwidth_hz, snr)


def rayleigh_power(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """Small-scale power gain |h|^2 of Rayleigh fading: Exp(1), unit mean."""
    return rng.standard_exponential(size)  # the same draws as exponential(1.0) without its scale pass


def _airtime_s(bits: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """bits/rate, with an empty payload taking no time even at rate 0 (a dead channel)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bits == 0.0, 0.0, bits / rate)


def uplink_time_energy(
    bits: ArrayLike, rate_bps: ArrayLike, tx_power_w: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Airtime bits/rate (s) and transmit energy P·bits/rate (J) of one upload.

    Only the radiated power is counted (no circuit power), as in the Green-QFL energy model.
    An empty payload costs nothing even on a dead channel.
    """
    seconds = _airtime_s(_f(bits), _f(rate_bps))
    return seconds, _f(tx_power_w) * seconds


def fdma_rates(
    bandwidth_hz: float,
    tx_power_w: ArrayLike,
    channel_gain: ArrayLike,
    *,
    shares: ArrayLike | None = None,
    noise_psd_w_hz: ArrayLike = THERMAL_NOISE_PSD_W_HZ,
    noise_figure_db: float = 0.0,
    interference_w: ArrayLike = 0.0,
) -> np.ndarray:
    """FDMA: device i gets b_i = share_i·B (equal shares 1/K by default) and all send at once:
    r_i = b_i·log2(1 + P_i·g_i / (N0·b_i·NF + I_i)). ``channel_gain`` is linear (:func:`link_gain`);
    ``interference_w`` is the interference on each device's own sub-band."""
    b = float(check_float("radio.bandwidth_hz", bandwidth_hz, low=0, low_open=True))
    gain = _f(channel_gain)
    k = gain.shape[-1] if gain.ndim else 1
    if shares is None:
        share = np.full(k, 1.0 / k)
    else:
        share = _f(shares)
        if (
            share.shape != (k,)
            or not np.all(np.isfinite(share))
            or np.any(share <= 0)
            or share.sum() > 1.0 + 1e-9
        ):
            raise ConfigError("access.shares", shares, f"{k} positive fractions summing to <= 1")
    sub_band = b * share
    snr = _f(tx_power_w) * gain / (
        noise_power_w(sub_band, noise_psd_w_hz, noise_figure_db) + _f(interference_w)
    )
    return rate_bps(sub_band, snr)


def serve_in_order(ready_s: ArrayLike, airtime_s: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """One shared channel serving devices in the given order: device i starts when it is ready
    and the previous device is done, end_i = max(ready_i, end_{i-1}) + air_i.

    Solved without a Python loop: end_i = S_i + max_{j<=i}(ready_j - S_{j-1}) with S the running
    sum of airtimes. A device with infinite airtime (a dead channel) holds the channel forever:
    it and everyone after it end at inf, and those after it never start.
    """
    ready = _f(ready_s).reshape(-1)
    air = np.broadcast_to(_f(airtime_s).reshape(-1), ready.shape)
    blocked = np.cumsum(~np.isfinite(air)) > 0  # at or after the first infinite slot
    finite_air = np.where(blocked, 0.0, air)
    cumulative = np.cumsum(finite_air)
    end = cumulative + np.maximum.accumulate(ready - (cumulative - finite_air))
    start = end - finite_air
    first_blocked = np.argmax(blocked) if blocked.any() else ready.size
    start[first_blocked + 1 :] = np.inf
    end[blocked] = np.inf
    return start, end


def tdma_schedule(
    bits: ArrayLike, rates_bps: ArrayLike, start_s: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """TDMA: devices send one after another, in the given order, each at its full-band rate.

    Returns (slot start, slot end) in seconds per device; slot i lasts bits_i/rate_i and the last
    slot ends at start_s + Σ bits/rate. An empty payload takes a zero-length slot even on a dead
    channel; a positive payload at rate 0 takes forever (inf).
    """
    payload = _f(bits).reshape(-1)
    rate = np.broadcast_to(_f(rates_bps).reshape(-1), payload.shape)
    if np.any(payload < 0) or np.any(rate < 0):
        raise ConfigError("bits", bits, "payloads >= 0 at rates >= 0")
    t0 = check_float("start_s", start_s, low=0)
    return serve_in_order(np.full(payload.shape, t0), _airtime_s(payload, rate))


def ofdma_assign(cost: ArrayLike, *, maximize: bool = False) -> np.ndarray:
    """OFDMA resource-block assignment: at most one device per RB, each device on exactly one RB,
    minimizing Σ cost[i, rb_i] (Hungarian algorithm, scipy linear_sum_assignment).

    ``cost`` is (devices, resource_blocks), e.g. airtime bits/rate or energy; +inf forbids a pair.
    Returns the RB index of each device. More devices than RBs is a ConfigError
    (``access.resource_blocks``).
    """
    c = _f(cost)
    if c.ndim != 2 or np.any(np.isnan(c)):
        allowed = "a (devices, resource_blocks) matrix without NaN"
        raise ConfigError("access.cost", f"array of shape {c.shape}", allowed)
    n_dev, n_rb = c.shape
    _check_rbs(n_dev, n_rb)
    from scipy.optimize import linear_sum_assignment  # scipy imported where used: it costs start-up to runs that never call this

    rows, cols = linear_sum_assignment(c, maximize=maximize)
    rb = np.empty(n_dev, dtype=np.int64)
    rb[rows] = cols
    return rb


def packet_error_rate(
    tx_power_w: ArrayLike,
    channel_gain: ArrayLike,
    bandwidth_hz: ArrayLike,
    waterfall_threshold: float,
    *,
    noise_psd_w_hz: ArrayLike = THERMAL_NOISE_PSD_W_HZ,
    interference_w: ArrayLike = 0.0,
) -> np.ndarray:
    """Chen et al. (IEEE TWC 2021): q = 1 - exp(-m_w·(I + B·N0)/(P·h)) = 1 - exp(-m_w/SINR).

    A dead channel (P·h = 0) gives q = 1.
    """
    m_w = check_float("radio.waterfall_threshold", waterfall_threshold, low=0, low_open=True)
    received = _f(tx_power_w) * _f(channel_gain)
    impairment = _f(interference_w) + _check_bandwidth(bandwidth_hz) * _f(noise_psd_w_hz)
    with np.errstate(divide="ignore"):
        exponent = m_w * impairment / received
    return -np.expm1(-exponent)


def draw_packet_errors(rng: np.random.Generator, error_rate: ArrayLike) -> np.ndarray:
    """Bernoulli packet losses (True = lost), one per entry of ``error_rate``."""
    q = _f(error_rate)
    return rng.random(q.shape) < q


def broadcast_time_s(bits: float, rates_bps: ArrayLike) -> float:
    """Downlink broadcast of one payload to the selected devices: bits / min_i r_i (the worst
    device's rate decides). Zero when nobody is selected or the payload is empty."""
    payload = check_float("bits", bits, low=0)
    rate = _f(rates_bps).reshape(-1)
    if rate.size == 0 or payload == 0.0:
        return 0.0
    worst = float(rate.min())
    if worst < 0:
        raise ConfigError("rates_bps", rates_bps, "rates >= 0")
    return payload / worst if worst > 0 else float("inf")
