"""Link budget, Shannon rates, Rayleigh power, upload airtime and energy, FDMA/TDMA/OFDMA, packet
errors (Chen et al.) and broadcast time."""

import itertools
import math

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.world import AccessConfig, RadioConfig
from fedsim.world._link import (
    THERMAL_NOISE_PSD_W_HZ,
    broadcast_time_s,
    draw_packet_errors,
    fdma_rates,
    link_gain,
    noise_power_w,
    ofdma_assign,
    packet_error_rate,
    rate_bps,
    rayleigh_power,
    shannon_rate_bps,
    sinr,
    tdma_schedule,
    uplink_time_energy,
)


def test_thermal_noise_constant():
    # -174 dBm/Hz = 10^(-17.4) mW/Hz = 3.981e-21 W/Hz
    assert THERMAL_NOISE_PSD_W_HZ == pytest.approx(3.981e-21, rel=1e-4)


def test_link_budget_sinr_worked_point():
    # P = 0.01 W, G_t = 3 dB, G_r = 0, PL = 100 dB: signal = 0.01·10^(-9.7) = 1.995262e-12 W
    # noise = 3.981072e-21·1e6·10^(0.5) = 1.258925e-14 W (NF 5 dB); I = 1e-14 W
    # SINR = 1.995262e-12 / 2.258925e-14 = 88.3279; rate = 1e6·log2(89.3279) = 6.48104 Mbit/s
    s = sinr(0.01, 100.0, 1e6, tx_gain_db=3.0, noise_figure_db=5.0, interference_w=1e-14)
    assert s == pytest.approx(88.3279, rel=1e-5)
    assert rate_bps(1e6, s) == pytest.approx(6.48104e6, rel=1e-5)
    assert noise_power_w(1e6, noise_figure_db=5.0) == pytest.approx(1.258925e-14, rel=1e-6)
    # Fading multiplies the signal; gains add in dB.
    assert sinr(0.01, 100.0, 1e6, fading=0.5) == pytest.approx(0.5 * float(sinr(0.01, 100.0, 1e6)))
    assert link_gain(100.0, 3.0, 2.0, 2.0) == pytest.approx(2.0 * 10 ** (-9.5))


def test_rate_agrees_with_existing_shannon_rate():
    gains = np.array([1e-10, 1e-12, 1e-30])
    snr = sinr(0.1, -10 * np.log10(gains), 10e6, noise_psd_w_hz=4e-21)
    np.testing.assert_allclose(rate_bps(10e6, snr), shannon_rate_bps(10e6, 0.1, gains, 4e-21), rtol=1e-12)


def test_rayleigh_power_is_unit_mean_exponential():
    g = rayleigh_power(np.random.default_rng(0), 200_000)
    assert g.shape == (200_000,)
    assert np.all(g >= 0)
    assert g.mean() == pytest.approx(1.0, rel=0.01)
    assert g.var() == pytest.approx(1.0, rel=0.03)


def test_shannon_rate_worked_point():
    # P·h/(B·N0) = 0.1·1e-10/(1e7·4e-21) = 250 -> rate = 1e7·log2(251) ≈ 79.71 Mbit/s.
    rate = shannon_rate_bps(10e6, 0.1, 1e-10, 4e-21)
    assert rate == pytest.approx(10e6 * math.log2(251.0), rel=1e-12)
    assert rate == pytest.approx(79.71e6, rel=1e-4)


def test_shannon_rate_vectorised_and_low_snr():
    gains = np.array([1e-10, 1e-12, 1e-30])
    rates = shannon_rate_bps(10e6, 0.1, gains, 4e-21)
    assert rates.shape == (3,)
    assert np.all(np.diff(rates) < 0)
    # At tiny SNR, log2(1 + x) ≈ x / ln 2 and must not round to zero.
    snr = 0.1 * 1e-30 / (10e6 * 4e-21)
    assert rates[2] == pytest.approx(10e6 * snr / math.log(2), rel=1e-9)


def test_uplink_time_energy():
    bits = np.array([1e6, 4e6, 0.0])
    rate = np.array([2e6, 1e6, 0.0])
    seconds, joules = uplink_time_energy(bits, rate, 0.1)
    np.testing.assert_allclose(seconds, [0.5, 4.0, 0.0])
    np.testing.assert_allclose(joules, [0.05, 0.4, 0.0])


def test_fdma_equal_and_given_split():
    gains = np.array([1e-10, 4e-11, 1e-11])
    rates = fdma_rates(3e6, 0.1, gains, noise_psd_w_hz=4e-21)
    # Equal split: 1 MHz each, r_i = 1e6·log2(1 + 0.1·g_i/(1e6·4e-21)).
    np.testing.assert_allclose(rates, 1e6 * np.log2(1 + 0.1 * gains / 4e-15))
    shares = np.array([0.5, 0.3, 0.2])
    given = fdma_rates(3e6, 0.1, gains, shares=shares, noise_psd_w_hz=4e-21)
    b = 3e6 * shares
    np.testing.assert_allclose(given, b * np.log2(1 + 0.1 * gains / (b * 4e-21)))
    with pytest.raises(ConfigError, match="access.shares"):
        fdma_rates(3e6, 0.1, gains, shares=[0.6, 0.6, 0.1])
    with pytest.raises(ConfigError, match="radio.bandwidth_hz"):
        fdma_rates(0.0, 0.1, gains)


def test_tdma_schedule_is_sequential():
    start, end = tdma_schedule([1e6, 2e6, 0.0, 1e6], [1e6, 4e6, 0.0, 2e6], start_s=1.0)
    np.testing.assert_allclose(start, [1.0, 2.0, 2.5, 2.5])
    np.testing.assert_allclose(end, [2.0, 2.5, 2.5, 3.0])
    start, end = tdma_schedule([1.0, 1.0], [0.0, 1.0])  # a dead channel blocks the rest
    np.testing.assert_array_equal(start, [0.0, np.inf])
    np.testing.assert_array_equal(end, [np.inf, np.inf])


@pytest.mark.parametrize("gains", [np.full(5, 1e-11), np.array([3e-11, 1e-11, 5e-12, 2e-12, 1e-12])])
def test_tdma_takes_longer_than_fdma_for_equal_payloads(gains):
    bits, band, power, n0 = 1e6, 10e6, 0.1, 4e-21
    tdma_rate = fdma_rates(band, power, gains[:1], noise_psd_w_hz=n0)  # whole band, one device
    tdma_rates = band * np.log2(1 + power * gains / (band * n0))
    np.testing.assert_allclose(tdma_rate, tdma_rates[:1])
    _, end = tdma_schedule(np.full(gains.size, bits), tdma_rates)
    assert end[-1] == pytest.approx(np.sum(bits / tdma_rates))  # total = sum of slot times
    fdma_time = np.max(bits / fdma_rates(band, power, gains, noise_psd_w_hz=n0))
    assert end[-1] > fdma_time


def test_ofdma_assignment_is_optimal_vs_brute_force():
    rng = np.random.default_rng(4)
    bits = 1e5
    for _ in range(5):
        gains = rng.exponential(1.0, (4, 6)) * 1e-11  # devices x resource blocks
        rates = 180e3 * np.log2(1 + 0.1 * gains / (180e3 * 4e-21))
        cost = bits / rates  # airtime
        rb = ofdma_assign(cost)
        assert rb.shape == (4,) and np.unique(rb).size == 4 and rb.max() < 6
        best = min(
            sum(cost[i, p[i]] for i in range(4)) for p in itertools.permutations(range(6), 4)
        )
        assert cost[np.arange(4), rb].sum() == pytest.approx(best)
    # maximize: total rate instead of total airtime.
    rb = ofdma_assign(rates, maximize=True)
    best = max(sum(rates[i, p[i]] for i in range(4)) for p in itertools.permutations(range(6), 4))
    assert rates[np.arange(4), rb].sum() == pytest.approx(best)


def test_ofdma_rejects_more_devices_than_resource_blocks():
    with pytest.raises(ConfigError, match="access.resource_blocks"):
        ofdma_assign(np.ones((5, 4)))
    with pytest.raises(ConfigError, match="access.resource_blocks"):
        AccessConfig(scheme="ofdma", resource_blocks=4).check_devices(5)
    AccessConfig(scheme="fdma", resource_blocks=1).check_devices(5)  # FDMA has no such limit


def test_packet_error_rate_chen_et_al():
    # Chen et al. release: P = 0.01 W, B·N0 = 1e-14 W per 1 MHz RB (N0 = 1e-20), m_w = 1.08.
    # h = 1e-11: q = 1 - exp(-1.08·1e-14/(0.01·1e-11)) = 1 - exp(-0.108) = 0.1023724
    # with I = 1e-14 W: 1 - exp(-1.08·2e-14/1e-13) = 1 - exp(-0.216) = 0.1942647
    q = packet_error_rate(0.01, 1e-11, 1e6, 1.08, noise_psd_w_hz=1e-20)
    assert q == pytest.approx(0.1023724, rel=1e-6)
    q_i = packet_error_rate(0.01, 1e-11, 1e6, 1.08, noise_psd_w_hz=1e-20, interference_w=1e-14)
    assert q_i == pytest.approx(0.1942647, rel=1e-6)
    # Equivalent to 1 - exp(-m_w/SINR); a dead channel always fails; strong channels rarely.
    g = np.array([0.0, 1e-13, 1e-11, 1e-8])
    q = packet_error_rate(0.01, g, 1e6, 1.08, noise_psd_w_hz=1e-20)
    assert q[0] == 1.0 and np.all(np.diff(q) < 0) and q[-1] < 1e-3
    lost = draw_packet_errors(np.random.default_rng(0), np.full(200_000, 0.1023724))
    assert lost.mean() == pytest.approx(0.1023724, abs=0.003)
    with pytest.raises(ConfigError, match="radio.waterfall_threshold"):
        packet_error_rate(0.01, 1e-11, 1e6, 0.0)


def test_broadcast_time_uses_worst_rate():
    assert broadcast_time_s(1e6, [4e6, 1e6, 2e6]) == pytest.approx(1.0)
    assert broadcast_time_s(1e6, []) == 0.0
    assert broadcast_time_s(0.0, [0.0]) == 0.0
    assert broadcast_time_s(1e6, [1e6, 0.0]) == math.inf


def test_radio_and_access_config_validation():
    cfg = RadioConfig(bandwidth_hz=1e6, noise_psd_dbm_hz=-170.0, noise_figure_db=3.0)
    assert cfg.noise_psd_with_figure_w_hz == pytest.approx(1e-20 * 10**0.3)
    for field, value in [
        ("bandwidth_hz", 0.0),
        ("tx_power_w", -1.0),
        ("noise_psd_dbm_hz", 10.0),
        ("waterfall_threshold", -1.08),
        ("carrier_hz", float("nan")),
    ]:
        with pytest.raises(ConfigError, match=f"^{field}="):
            RadioConfig(**{field: value})
    with pytest.raises(ConfigError, match="^resource_blocks="):
        AccessConfig(scheme="ofdma", resource_blocks=0)
    with pytest.raises(ConfigError, match="^scheme="):
        AccessConfig(scheme="cdma")
    assert AccessConfig("ofdma", 50).rb_bandwidth_hz(10e6) == pytest.approx(200e3)
