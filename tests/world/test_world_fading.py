"""Fading moments by Monte Carlo against closed forms; coherence time and block counting."""

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.world import FADING_KINDS
from fedsim.world._fading import (
    coherence_time_s,
    doppler_hz,
    fading_power,
    fading_power_moments,
    num_fading_blocks,
)

N = 400_000


def _moments(kind, seed, **params):
    g = fading_power(kind, np.random.default_rng(seed), N, **params)
    assert g.shape == (N,) and np.all(g >= 0)
    return g.mean(), g.var()


def test_rayleigh_is_unit_exponential():
    mean, var = _moments("rayleigh", 0)
    assert mean == pytest.approx(1.0, rel=0.01)
    assert var == pytest.approx(1.0, rel=0.03)
    assert fading_power_moments("rayleigh") == (1.0, 1.0)


@pytest.mark.parametrize("k_factor", [0.0, 1.0, 10.0, 100.0])
def test_rician_mean_and_variance(k_factor):
    # E|h|² = 1 and Var|h|² = (1 + 2K)/(1 + K)²: K = 10 (10 dB) -> 21/121 = 0.17355.
    mean, var = _moments("rician", 1, k_factor=k_factor)
    exp_mean, exp_var = fading_power_moments("rician", k_factor=k_factor)
    assert exp_var == pytest.approx((1 + 2 * k_factor) / (1 + k_factor) ** 2)
    assert mean == pytest.approx(exp_mean, rel=0.01)
    assert var == pytest.approx(exp_var, rel=0.03)


@pytest.mark.parametrize(("m", "omega"), [(0.5, 1.0), (1.0, 2.0), (3.0, 0.5)])
def test_nakagami_mean_and_variance(m, omega):
    # Gamma(m, Ω/m): mean Ω, variance Ω²/m.
    mean, var = _moments("nakagami", 2, m=m, omega=omega)
    assert fading_power_moments("nakagami", m=m, omega=omega) == pytest.approx((omega, omega**2 / m))
    assert mean == pytest.approx(omega, rel=0.01)
    assert var == pytest.approx(omega**2 / m, rel=0.03)


def test_special_cases_coincide_with_rayleigh():
    # Rician K = 0 and Nakagami m = 1 are Rayleigh: compare the CDF at a few points to 1 - exp(-x).
    x = np.array([0.1, 0.5, 1.0, 2.0])
    for kind, params in (("rician", {"k_factor": 0.0}), ("nakagami", {"m": 1.0})):
        g = fading_power(kind, np.random.default_rng(5), N, **params)
        cdf = (g[:, None] <= x).mean(axis=0)
        np.testing.assert_allclose(cdf, 1 - np.exp(-x), atol=0.005)


def test_none_and_seeding():
    assert np.all(fading_power("none", np.random.default_rng(0), 4) == 1.0)
    a = fading_power("rician", np.random.default_rng(9), (3, 5), k_factor=10.0)
    b = fading_power("rician", np.random.default_rng(9), (3, 5), k_factor=10.0)
    assert a.shape == (3, 5)
    np.testing.assert_array_equal(a, b)
    assert set(FADING_KINDS) == {"none", "rayleigh", "rician", "nakagami"}


def test_fading_validation():
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="radio.fading"):
        fading_power("weibull", rng, 3)
    with pytest.raises(ConfigError, match="radio.rician_k_factor"):
        fading_power("rician", rng, 3)
    with pytest.raises(ConfigError, match="radio.rician_k_factor"):
        fading_power("rician", rng, 3, k_factor=-1.0)
    with pytest.raises(ConfigError, match="radio.nakagami_m"):
        fading_power("nakagami", rng, 3, m=0.3)
    with pytest.raises(ConfigError, match="radio.fading.k_factor"):
        fading_power("rayleigh", rng, 3, k_factor=1.0)


def test_coherence_time_and_blocks():
    # 30 m/s at 2.4 GHz: f_D = 30·2.4e9/c = 240.1662 Hz; T_c = 0.423/240.1662 = 1.761281 ms
    f_d = doppler_hz(30.0, 2.4e9)
    assert f_d == pytest.approx(240.1662, abs=1e-3)
    t_c = coherence_time_s(f_d)
    assert t_c == pytest.approx(1.761281e-3, rel=1e-6)
    # 18.2 ms of airtime spans ceil(18.2/1.761281) = ceil(10.33) = 11 blocks.
    assert num_fading_blocks(18.2e-3, t_c) == 11
    # Exact multiples do not round up; short or empty transmissions see one block; static: one.
    np.testing.assert_array_equal(num_fading_blocks([0.0, 1e-3, 2e-3, 2.0001e-3], 1e-3), [1, 1, 2, 3])
    assert coherence_time_s(0.0) == np.inf
    assert num_fading_blocks(5.0, coherence_time_s(0.0)) == 1
    with pytest.raises(ConfigError, match="radio.doppler_hz"):
        coherence_time_s(-1.0)


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1, 2**32 + 5, 2**64 - 1, 2**64 + 3])
def test_a_stream_family_draws_what_numpy_stream_draws(seed):
    from fedsim.rng import StreamFamily, numpy_stream

    family = StreamFamily(seed, "fading")
    # across block boundaries (256), revisited, and indices too wide for the fast path
    for index in [0, 1, 255, 256, 257, 3, 1000, 2**32 - 1, 2**32, 2**40]:
        got = family.at(index).standard_exponential(5)
        np.testing.assert_array_equal(got, numpy_stream(seed, "fading", index).standard_exponential(5))
    # the same Generator is reseeded on every call (seeds of up to 64 bits; wider ones take the
    # numpy_stream way): a draw after it starts the stream again
    assert (family.at(9) is family.at(10)) == (seed < 2**64)
    first = family.at(9).random(3)
    np.testing.assert_array_equal(family.at(9).random(3), first)
    assert not np.array_equal(family.at(10).random(3), first)
