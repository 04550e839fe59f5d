import math

import numpy as np
import pytest

from fedsim.world import path_gain, rayleigh_power, shannon_rate_bps, uplink_time_energy


def test_path_gain_power_law_and_clip():
    np.testing.assert_allclose(path_gain([10.0, 100.0], 4.0), [1e-4, 1e-8])
    # At or below 1 m the gain saturates at 1 instead of blowing up.
    np.testing.assert_array_equal(path_gain([0.0, 0.5, 1.0], 4.0), [1.0, 1.0, 1.0])


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
