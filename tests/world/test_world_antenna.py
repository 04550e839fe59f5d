"""Antenna patterns and the closed-form mean gain under Gaussian pointing error vs Monte Carlo."""

import math

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.world._antenna import (
    draw_pointing_error_deg,
    element_gain_38901_db,
    isotropic_gain_db,
    mean_pointing_gain,
    parabolic_gain_db,
    pointing_gain_db,
)

MC = 400_000


def test_isotropic():
    np.testing.assert_array_equal(isotropic_gain_db(np.array([0.0, 45.0, 180.0])), [0.0, 0.0, 0.0])


def test_parabolic_pattern_points():
    # 38.901 defaults: 8 dBi, θ_3dB = 65°. At 32.5° (half the beamwidth): 8 - 12·0.25 = 5 dBi;
    # at 65°: 8 - 12 = -4 dBi; at 180°: 12·(180/65)² = 92 > 30, so the floor 8 - 30 = -22 dBi.
    np.testing.assert_allclose(parabolic_gain_db([0.0, 32.5, 65.0, 180.0]), [8.0, 5.0, -4.0, -22.0])
    # UAV beam θ_3dB = 30°: 10° off -> 8 - 12·(1/3)² = 8 - 1.3333 = 6.6667 dBi.
    assert parabolic_gain_db(10.0, 30.0) == pytest.approx(6.666667, abs=1e-6)
    # Without the floor the loss keeps growing: 8 - 12·36 = -424 dBi at 180° for θ_3dB = 30°.
    assert parabolic_gain_db(180.0, 30.0, max_attenuation_db=None) == pytest.approx(-424.0)


def test_38901_element_combination():
    # Boresight (θ = 90°, φ = 0): G_E,max = 8 dBi.
    assert element_gain_38901_db(90.0, 0.0) == pytest.approx(8.0)
    # θ = 122.5°, φ = 32.5°: A_V = -3, A_H = -3 -> A = -min(6, 30) = -6 -> 2 dBi.
    assert element_gain_38901_db(122.5, 32.5) == pytest.approx(2.0)
    # θ = 150°, φ = 60°: A_V = -min(12·(60/65)², 30) = -10.225, A_H = -10.225; sum 20.45 < 30
    #   -> 8 - 20.4497 = -12.4497 dBi
    assert element_gain_38901_db(150.0, 60.0) == pytest.approx(8.0 - 24 * (60 / 65) ** 2)
    # Back lobe: capped at A_max = 30 dB -> -22 dBi; azimuth wraps (350° is -10°).
    assert element_gain_38901_db(90.0, 180.0) == pytest.approx(-22.0)
    assert element_gain_38901_db(90.0, 350.0) == pytest.approx(float(element_gain_38901_db(90.0, -10.0)))


@pytest.mark.parametrize("sigma_deg", [1.0, 5.0, 10.0, 20.0])
def test_mean_gain_closed_form_matches_monte_carlo_one_plane(sigma_deg):
    beam, g_max_dbi = 30.0, 8.0
    err = draw_pointing_error_deg(np.random.default_rng(11), sigma_deg, MC)
    for cap in (None, 30.0):
        linear = 10 ** (pointing_gain_db(err, beam, g_max_dbi, cap) / 10)
        mc, stderr = linear.mean(), linear.std() / math.sqrt(MC)
        closed = mean_pointing_gain(sigma_deg, beam, g_max_dbi, cap)
        assert abs(mc - closed) < 5 * stderr + 1e-12
    # The uncapped closed form is the reference's G_max/sqrt(1 + 2aσ²/θ²), a = 1.2·ln 10.
    a = 1.2 * math.log(10)
    expected = 10 ** 0.8 / math.sqrt(1 + 2 * a * sigma_deg**2 / beam**2)
    assert mean_pointing_gain(sigma_deg, beam, g_max_dbi) == pytest.approx(expected)


@pytest.mark.parametrize("sigma_deg", [2.0, 15.0, 40.0])
def test_mean_gain_closed_form_matches_monte_carlo_two_planes(sigma_deg):
    err = draw_pointing_error_deg(np.random.default_rng(12), sigma_deg, MC, planes=2)
    assert err.shape == (MC, 2)
    for cap in (None, 30.0):
        # The 38.901 element (θ = 90 + δ_V, φ = δ_H) and the combined one-offset pattern agree.
        g_db = pointing_gain_db(err, 65.0, 8.0, cap, planes=2)
        if cap is not None:
            np.testing.assert_allclose(g_db[:1000], element_gain_38901_db(90 + err[:1000, 0], err[:1000, 1]))
        linear = 10 ** (g_db / 10)
        mc, stderr = linear.mean(), linear.std() / math.sqrt(MC)
        closed = mean_pointing_gain(sigma_deg, 65.0, 8.0, cap, planes=2)
        assert abs(mc - closed) < 5 * stderr + 1e-12


def test_mean_gain_limits_and_vectorization():
    sigmas = np.array([0.0, 1.0, 5.0, 10.0, 1e8])
    g = mean_pointing_gain(sigmas, 30.0, 8.0, 30.0)
    assert g[0] == pytest.approx(10**0.8)
    assert np.all(np.diff(g) < 0)
    # Huge errors: almost always on the floor, 10^((8-30)/10) (the main lobe adds ~ 1/σ).
    assert g[-1] == pytest.approx(10 ** (-2.2), rel=1e-3)
    with pytest.raises(ConfigError, match="antenna.pointing_sigma_deg"):
        mean_pointing_gain(-1.0)
    with pytest.raises(ConfigError, match="antenna.beamwidth_deg"):
        parabolic_gain_db(0.0, 0.0)
    with pytest.raises(ConfigError, match="antenna.planes"):
        draw_pointing_error_deg(np.random.default_rng(0), 1.0, 3, planes=3)
