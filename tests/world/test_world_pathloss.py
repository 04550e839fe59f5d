"""Path-loss models at hand-computed points (c = 299,792,458 m/s; logs base 10), the UMa effective
environment height, and the registry the Channel dispatches through."""

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream
from fedsim.world import AIR_TO_GROUND_ENVIRONMENTS, PATH_LOSS_MODELS, Channel, RadioConfig
from fedsim.world._pathloss import (
    PathLossLinks,
    air_to_air_db,
    air_to_ground_db,
    air_to_ground_los_probability,
    breakpoint_distance_m,
    draw_los,
    draw_uma_effective_env_height_m,
    elevation_deg,
    free_space_db,
    log_distance_db,
    macro_36814_db,
    path_gain,
    path_gain_of,
    shadowing_db,
    shadowing_sigma_db,
    uma_38901_db,
    uma_av_36777_db,
    uma_av_los_probability,
    uma_los_probability,
    umi_38901_db,
    umi_av_36777_db,
    umi_av_los_probability,
    umi_los_probability,
)

TOL = 2e-3  # dB; the hand arithmetic keeps 4-6 significant digits


def test_free_space():
    # 20·log10(100) = 40; 20·log10(2.4e9) = 187.6042; 20·log10(4π/c) = -147.5522
    # -> 40 + 187.6042 - 147.5522 = 80.0520 dB
    assert free_space_db(100.0, 2.4e9) == pytest.approx(80.0520, abs=TOL)
    # Doubling the distance adds 20·log10(2) = 6.0206 dB.
    assert free_space_db(200.0, 2.4e9) - free_space_db(100.0, 2.4e9) == pytest.approx(6.0206, abs=1e-4)
    # Below 1 m the distance is clipped: same loss as at 1 m, never -inf.
    assert free_space_db(0.0, 2.4e9) == free_space_db(1.0, 2.4e9)


def test_path_gain_power_law_and_clip():
    np.testing.assert_allclose(path_gain([10.0, 100.0], 4.0), [1e-4, 1e-8])
    # At or below 1 m the gain saturates at 1 instead of blowing up.
    np.testing.assert_array_equal(path_gain([0.0, 0.5, 1.0], 4.0), [1.0, 1.0, 1.0])


def test_log_distance():
    # 40 + 10·3·log10(200/1) = 40 + 30·2.30103 = 109.0309 dB
    assert log_distance_db(200.0, 3.0, reference_loss_db=40.0) == pytest.approx(109.0309, abs=TOL)
    # Reference loss from free space at d0 = 1 m, 2.4 GHz: 40.0520 (from 80.0520 - 40), n = 2
    # reproduces free space exactly.
    assert log_distance_db(100.0, 2.0, freq_hz=2.4e9) == pytest.approx(80.0520, abs=TOL)
    with pytest.raises(ConfigError, match="radio.carrier_hz"):
        log_distance_db(100.0, 2.0)
    with pytest.raises(ConfigError, match="radio.path_loss_exponent"):
        log_distance_db(100.0, 0.0, reference_loss_db=40.0)


def test_macro_36814():
    # 500 m: 128.1 + 37.6·log10(0.5) = 128.1 - 37.6·0.30103 = 128.1 - 11.3187 = 116.7813 dB
    # 1 km: 128.1 + 37.6·0 = 128.1 dB
    np.testing.assert_allclose(macro_36814_db([500.0, 1000.0]), [116.7813, 128.1], atol=TOL)


def test_uma_38901_los_both_slopes_and_nlos():
    # d'_BP = 4·(25-1)·(1.5-1)·3.5e9/c = 48·3.5e9/299792458 = 560.388 m
    assert breakpoint_distance_m(3.5e9, 25.0, 1.5) == pytest.approx(560.388, abs=1e-3)
    # d2D = 100 m < d'_BP: d3D = sqrt(100² + 23.5²) = 102.7242, log10 = 2.011672
    #   PL1 = 28 + 22·2.011672 + 20·log10(3.5) = 28 + 44.25678 + 10.88136 = 83.1381 dB
    # d2D = 1000 m > d'_BP: d3D = sqrt(1000² + 23.5²) = 1000.2761, log10 = 3.000120
    #   d'_BP² + 23.5² = 314034.4 + 552.25 = 314586.6, log10 = 5.497741
    #   PL2 = 28 + 40·3.000120 + 10.88136 - 9·5.497741 = 28 + 120.0048 + 10.8814 - 49.4797 = 109.4065
    np.testing.assert_allclose(uma_38901_db([100.0, 1000.0], 3.5e9, los=True), [83.1381, 109.4065], atol=TOL)
    # NLoS at 100 m: 13.54 + 39.08·2.011672 + 10.88136 - 0.6·0 = 13.54 + 78.61614 + 10.88136 = 103.0375
    assert uma_38901_db(100.0, 3.5e9, los=False) == pytest.approx(103.0375, abs=TOL)
    # The PL1/PL2 branches meet at the breakpoint (continuity of the TR's two-slope model).
    d_bp = float(breakpoint_distance_m(3.5e9, 25.0, 1.5))
    below, above = uma_38901_db([d_bp - 1e-6, d_bp + 1e-6], 3.5e9, los=True)
    assert below == pytest.approx(above, abs=1e-3)


def test_umi_38901_los_both_slopes_and_nlos():
    # d'_BP = 4·(10-1)·(1.5-1)·3.5e9/c = 18·11.67475 = 210.1454 m
    assert breakpoint_distance_m(3.5e9, 10.0, 1.5) == pytest.approx(210.1454, abs=1e-3)
    # 50 m: d3D = sqrt(50² + 8.5²) = 50.71736, log10 = 1.705157
    #   PL1 = 32.4 + 21·1.705157 + 10.88136 = 32.4 + 35.80830 + 10.88136 = 79.0897 dB
    # 500 m: d3D = 500.07225, log10 = 2.699033; d'_BP² + 8.5² = 44161.1 + 72.25 = 44233.3, log10 4.645750
    #   PL2 = 32.4 + 40·2.699033 + 10.88136 - 9.5·4.645750 = 32.4 + 107.9613 + 10.8814 - 44.1346 = 107.1081
    np.testing.assert_allclose(umi_38901_db([50.0, 500.0], 3.5e9, los=True), [79.0897, 107.1081], atol=TOL)
    # NLoS 50 m: 35.3·1.705157 + 22.4 + 21.3·log10(3.5) = 60.19204 + 22.4 + 11.58865 = 94.1807
    assert umi_38901_db(50.0, 3.5e9, los=False) == pytest.approx(94.1807, abs=TOL)


def test_38901_los_probabilities():
    # UMi (radio_energy.md form): 1 up to 18 m; at 100 m 18/100 + exp(-100/36)·(1 - 0.18)
    #   = 0.18 + 0.0621765·0.82 = 0.18 + 0.0509847 = 0.2309847
    np.testing.assert_allclose(umi_los_probability([5.0, 18.0, 100.0]), [1.0, 1.0, 0.2309847], atol=1e-6)
    # TR 38.900's way of writing it, min(18/d,1)·(1 - exp(-d/36)) + exp(-d/36), is the same function.
    d = np.linspace(18.0, 2000.0, 50)
    np.testing.assert_allclose(umi_los_probability(d), 18 / d * (1 - np.exp(-d / 36)) + np.exp(-d / 36))
    # UMa, h_UT = 1.5 m (C' = 0): 0.18 + exp(-100/63)·0.82 = 0.18 + 0.2044766·0.82 = 0.3476708
    assert uma_los_probability(100.0, 1.5) == pytest.approx(0.3476708, abs=1e-6)
    # h_UT = 18 m: C' = (5/10)^1.5 = 0.3535534; factor 1 + 0.3535534·1.25·1·exp(-2/3)
    #   = 1 + 0.4419417·0.5134171 = 1.2269005 -> 0.3476708·1.2269005 = 0.4265575
    assert uma_los_probability(100.0, 18.0) == pytest.approx(0.4265575, abs=1e-6)


def test_expected_loss_weights_los_states_in_db():
    p = umi_los_probability(100.0)
    los, nlos = umi_38901_db(100.0, 3.5e9, los=True), umi_38901_db(100.0, 3.5e9, los=False)
    assert umi_38901_db(100.0, 3.5e9) == pytest.approx(p * los + (1 - p) * nlos)
    mixed = umi_38901_db([100.0, 100.0], 3.5e9, los=np.array([True, False]))
    np.testing.assert_allclose(mixed, [los, nlos])


def test_uma_av_36777():
    # h = 100 m, d2D = 500 m, fc = 2 GHz, h_BS = 25 m: d3D = sqrt(500² + 75²) = 505.5937, log10 = 2.703786
    # LoS: 28 + 22·2.703786 + 20·log10(2) = 28 + 59.48329 + 6.02060 = 93.5039 dB
    # NLoS: -17.5 + (46 - 7·2)·2.703786 + 20·log10(40π·2/3) = -17.5 + 86.52115 + 38.46287 = 107.4840
    assert uma_av_36777_db(500.0, 2e9, 100.0, los=True) == pytest.approx(93.5039, abs=TOL)
    assert uma_av_36777_db(500.0, 2e9, 100.0, los=False) == pytest.approx(107.4840, abs=TOL)
    # P_LoS: d1 = max(460·2 - 700, 18) = 220, p1 = 4300·2 - 3800 = 4800
    #   220/500 + exp(-500/4800)·(1 - 0.44) = 0.44 + 0.9010751·0.56 = 0.9446021; above 100 m: 1
    np.testing.assert_allclose(uma_av_los_probability(500.0, [100.0, 150.0]), [0.9446021, 1.0], atol=1e-6)
    # At or below 22.5 m the terrestrial TR 38.901 UMa model applies.
    assert uma_av_36777_db(300.0, 2e9, 20.0, los=True) == pytest.approx(
        float(uma_38901_db(300.0, 2e9, h_ut_m=20.0, los=True))
    )
    assert uma_av_los_probability(100.0, 1.5) == pytest.approx(0.3476708, abs=1e-6)


def test_umi_av_36777_nlos_multiplies_log_distance():
    # h = 50 m (log10 = 1.698970), d2D = 200 m, fc = 2 GHz, h_BS = 10 m:
    # d3D = sqrt(200² + 40²) = 203.9608, log10 = 2.309547
    # LoS: 30.9 + (22.25 - 0.5·1.698970)·2.309547 + 6.02060 = 30.9 + 21.40052·2.309547 + 6.0206
    #   = 30.9 + 49.42551 + 6.0206 = 86.3461 (> FSPL = 46.19094 + 186.02060 - 147.55221 = 84.6593)
    assert umi_av_36777_db(200.0, 2e9, 50.0, los=True) == pytest.approx(86.3461, abs=TOL)
    # NLoS: 32.4 + (43.2 - 7.6·1.698970)·2.309547 + 6.0206 = 32.4 + 30.28783·2.309547 + 6.0206
    #   = 32.4 + 69.95117 + 6.0206 = 108.3718
    assert umi_av_36777_db(200.0, 2e9, 50.0, los=False) == pytest.approx(108.3718, abs=TOL)
    # The miscopied version adds the slope instead: 32.4 + 30.28783 + 2.309547 + 6.0206 = 71.02,
    # below LoS, so NLoS would collapse onto LoS. Ours grows with distance like a real NLoS slope:
    near, far = umi_av_36777_db([100.0, 1000.0], 2e9, 50.0, los=False)
    assert far - near > 25.0
    # P_LoS: d1 = max(294.05·1.698970 - 432.94, 18) = 66.6439; p1 = 233.98·1.698970 - 0.95 = 396.5249
    #   66.6439/200 + exp(-200/396.5249)·(1 - 0.3332195) = 0.3332195 + 0.6039112·0.6667805 = 0.7358962
    assert umi_av_los_probability(200.0, 50.0) == pytest.approx(0.7358962, abs=1e-5)


def test_air_to_ground_al_hourani():
    # Urban, 100 m away at 100 m altitude: θ = 45°.
    # P_LoS = 1/(1 + 9.61·exp(-0.16·(45 - 9.61))) = 1/(1 + 9.61·0.00347354) = 1/1.0333807 = 0.9676975
    assert air_to_ground_los_probability(45.0, "urban") == pytest.approx(0.9676975, abs=1e-5)
    # FSPL(141.4214 m, 2 GHz) = 43.01030 + 186.02060 - 147.55221 = 81.47869
    # mean PL = 81.47869 + 0.9676975·1.0 + 0.0323025·20 = 81.47869 + 0.96770 + 0.64605 = 83.0924
    assert air_to_ground_db(100.0, 100.0, 2e9, "urban") == pytest.approx(83.0924, abs=TOL)
    assert air_to_ground_db(100.0, 100.0, 2e9, "urban", los=False) == pytest.approx(101.4787, abs=TOL)
    # P_LoS rises with elevation in every environment and the excess losses are ordered.
    theta = np.array([10.0, 30.0, 60.0, 90.0])
    for env in AIR_TO_GROUND_ENVIRONMENTS:
        assert np.all(np.diff(air_to_ground_los_probability(theta, env)) > 0)
    with pytest.raises(ConfigError, match="radio.environment"):
        air_to_ground_db(100.0, 100.0, 2e9, "rural")


def test_air_to_air():
    # 50 m, 2.4 GHz, n = 2.05: FSPL(1 m) = 187.60422 - 147.55221 = 40.05201; 20.5·log10(50) = 34.82889
    #   -> 74.8809 dB
    assert air_to_air_db(50.0, 2.4e9, 2.05) == pytest.approx(74.8809, abs=TOL)
    assert air_to_air_db(50.0, 2.4e9) == pytest.approx(float(free_space_db(50.0, 2.4e9)))
    with pytest.raises(ConfigError, match="radio.path_loss_exponent"):
        air_to_air_db(50.0, 2.4e9, 3.0)


def test_shadowing_and_los_draws():
    rng = np.random.default_rng(3)
    x = shadowing_db(rng, 8.0, 200_000)
    assert x.mean() == pytest.approx(0.0, abs=0.06)
    assert x.std() == pytest.approx(8.0, rel=0.01)
    per_device = shadowing_db(rng, np.array([0.0, 4.0]), (1000, 2))
    assert np.all(per_device[:, 0] == 0.0)
    with pytest.raises(ConfigError, match="radio.shadowing_sigma_db"):
        shadowing_db(rng, -1.0, 3)
    los = draw_los(rng, np.full(100_000, 0.3))
    assert los.mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_allclose(shadowing_sigma_db("umi_38901", [True, False]), [4.0, 7.82])
    np.testing.assert_allclose(shadowing_sigma_db("uma_38901", [True, False]), [4.0, 6.0])
    # UMa-AV LoS: 4.64·exp(-0.0066·100) = 4.64·0.5168513 = 2.398190
    np.testing.assert_allclose(shadowing_sigma_db("uma_av_36777", [True, False], 100.0), [2.398190, 6.0], atol=1e-5)
    # UMi-AV LoS at 100 m: max(5·exp(-1), 2) = max(1.8394, 2) = 2
    np.testing.assert_allclose(shadowing_sigma_db("umi_av_36777", [True, False], 100.0), [2.0, 8.0])
    assert shadowing_sigma_db("macro_36814", True) == 8.0


def test_uma_effective_env_height_draw():
    rng = np.random.default_rng(4)
    # h_UT = 22.5 m, d2D = 300 m: C = ((22.5 - 13)/10)^1.5 · 1.25·3³·exp(-2)
    #   = 0.9259 · 33.75 · 0.135335 = 4.2293 -> P(h_E = 1 m) = 1/5.2293 = 0.19123;
    # otherwise uniform over {12, 15, 18, 21} (h_UT - 1.5 = 21).
    h_env = draw_uma_effective_env_height_m(rng, np.full(200_000, 300.0), 22.5)
    values, counts = np.unique(h_env, return_counts=True)
    np.testing.assert_array_equal(values, [1.0, 12.0, 15.0, 18.0, 21.0])
    p_one = counts[0] / h_env.size
    assert p_one == pytest.approx(0.19123, abs=0.004)  # ~4.5 standard errors
    np.testing.assert_allclose(counts[1:] / h_env.size, (1 - 0.19123) / 4, atol=0.004)
    # Within 18 m (g = 0) and below 13 m UE height (C = 0) h_E is always 1 m.
    assert np.all(draw_uma_effective_env_height_m(rng, np.full(1000, 15.0), 22.5) == 1.0)
    d = np.linspace(10.0, 5000.0, 2000)
    for h_ut in (1.5, 10.0, 12.99):
        assert np.all(draw_uma_effective_env_height_m(rng, d, h_ut) == 1.0)
    # Per-link heights broadcast against distances.
    assert draw_uma_effective_env_height_m(rng, d, np.full(d.shape, 18.0)).shape == d.shape


def test_uma_effective_env_height_moves_the_los_breakpoint():
    # h_BS = 25 m, h_UT = 22.5 m, 3.5 GHz: d'_BP = 4·(25 - h_E)·(22.5 - h_E)·f/c
    #   h_E = 1: 4·24·21.5·11.674750 = 24096.7 m (PL1 everywhere up to 5 km); h_E = 18: 4·7·4.5·11.67475
    #   = 1471.02 m. At d2D = 2 km, d3D = 2000.0016, the LoS loss rises from PL1 to PL2 by
    #   18·log10(d3D) - 9·log10(d'_BP² + 2.5²) = 59.4185 - 57.0176 = 2.401 dB.
    assert breakpoint_distance_m(3.5e9, 25.0, 22.5, 18.0) == pytest.approx(1471.02, abs=0.01)
    d = np.array([500.0, 1000.0, 1471.0, 2000.0, 3000.0])
    base = uma_38901_db(d, 3.5e9, h_ut_m=22.5, los=True)
    raised = uma_38901_db(d, 3.5e9, h_ut_m=22.5, los=True, h_env_m=18.0)
    np.testing.assert_allclose(raised - base, [0.0, 0.0, 0.0, 2.401, 5.571], atol=2e-3)
    # NLoS here is the NLoS formula, above either LoS value: h_E changes nothing.
    np.testing.assert_array_equal(
        uma_38901_db(d, 3.5e9, h_ut_m=22.5, los=False, h_env_m=18.0), uma_38901_db(d, 3.5e9, h_ut_m=22.5, los=False)
    )
    # Per-link h_E; the default 1 m is the old fixed value.
    mixed = uma_38901_db(d[3:], 3.5e9, h_ut_m=22.5, los=True, h_env_m=np.array([1.0, 18.0]))
    np.testing.assert_allclose(mixed - base[3:], [0.0, 5.571], atol=2e-3)
    with pytest.raises(ConfigError, match="radio.h_env_m"):
        uma_38901_db(d, 3.5e9, h_ut_m=22.5, h_env_m=21.0 + 1.5)  # not below the UE
    with pytest.raises(ConfigError, match="radio.h_env_m"):
        uma_38901_db(d, 3.5e9, h_ut_m=22.5, h_env_m=0.5)


def _links(config: RadioConfig, horizontal, vertical, exponent: float = 4.0) -> PathLossLinks:
    return PathLossLinks(
        np.asarray(horizontal, dtype=float), np.asarray(vertical, dtype=float), config.carrier_hz,
        h_bs_m=config.bs_height_m, h_ut_m=config.device_height_m, environment=config.environment,
        exponent=exponent,
    )


def test_registry_is_the_channel_vocabulary():
    assert PATH_LOSS_MODELS == (
        "exponent", "free_space", "macro_36814", "uma_38901", "umi_38901", "uma_av_36777",
        "umi_av_36777", "air_to_ground", "air_to_air", "custom",  # custom: radio.path_loss_target (test_user_pathloss.py)
    )
    with pytest.raises(ConfigError, match="^path_loss="):
        RadioConfig(path_loss="log_distance")  # a plain function, not a channel model
    links = _links(RadioConfig(), [100.0], [0.0])
    with pytest.raises(ConfigError, match="path_loss="):
        path_gain_of("okumura_hata", links, lambda name: np.random.default_rng(0))


def test_channel_gains_are_the_model_functions():
    horizontal = np.array([0.5, 30.0, 120.0, 800.0, 2500.0])
    vertical = np.array([0.0, 5.0, 40.0, 80.0, 150.0])
    d3d = np.hypot(horizontal, vertical)
    altitude = np.maximum(vertical, 1e-3)  # air-to-ground: the device flies at least 1 mm up
    seed, rnd = 8, 3

    def los(p):
        return draw_los(numpy_stream(seed, "line-of-sight", rnd), p)

    expected_db = {
        "free_space": lambda c: free_space_db(d3d, c.carrier_hz),
        "macro_36814": lambda c: macro_36814_db(d3d),
        "air_to_air": lambda c: air_to_air_db(d3d, c.carrier_hz, 2.05),  # exponent 3.7 clipped
        "uma_38901": lambda c: uma_38901_db(
            horizontal, c.carrier_hz, h_bs_m=25.0, h_ut_m=1.5, los=los(uma_los_probability(horizontal, 1.5))
        ),
        "umi_38901": lambda c: umi_38901_db(
            horizontal, c.carrier_hz, h_bs_m=25.0, h_ut_m=1.5, los=los(umi_los_probability(horizontal))
        ),
        "uma_av_36777": lambda c: uma_av_36777_db(
            horizontal, c.carrier_hz, 1.5, h_bs_m=25.0, los=los(uma_av_los_probability(horizontal, 1.5))
        ),
        "umi_av_36777": lambda c: umi_av_36777_db(
            horizontal, c.carrier_hz, 1.5, h_bs_m=25.0, los=los(umi_av_los_probability(horizontal, 1.5))
        ),
        "air_to_ground": lambda c: air_to_ground_db(
            horizontal, altitude, c.carrier_hz, "dense_urban",
            los=los(air_to_ground_los_probability(elevation_deg(horizontal, altitude), "dense_urban")),
        ),
    }
    assert set(expected_db) | {"exponent", "custom"} == set(PATH_LOSS_MODELS)  # custom: test_user_pathloss.py
    for model, loss_db in expected_db.items():
        config = RadioConfig(
            path_loss=model, carrier_hz=3.5e9, device_height_m=1.5, bs_height_m=25.0, environment="dense_urban",
            path_loss_exponent=3.7,
        )
        gain = Channel(config, seed).large_scale_gain(horizontal, vertical, rnd)
        np.testing.assert_array_equal(gain, 10.0 ** (-loss_db(config) / 10.0), err_msg=model)
    # exponent: Green-QFL's d^-alpha, bit for bit (PL = 10·alpha·log10(max(d, 1 m)) dB).
    gain = Channel(RadioConfig(path_loss_exponent=3.7), seed).large_scale_gain(horizontal, vertical, rnd)
    np.testing.assert_array_equal(gain, path_gain(d3d, 3.7))
    np.testing.assert_allclose(-10 * np.log10(gain), 37.0 * np.log10(np.maximum(d3d, 1.0)), rtol=1e-12)


def test_channel_draws_uma_env_height_only_for_high_ues():
    horizontal = np.linspace(20.0, 3000.0, 400)
    vertical = np.zeros_like(horizontal)
    seed, rnd = 5, 2
    for h_ut in (1.5, 12.0, 22.5):
        config = RadioConfig(path_loss="uma_38901", carrier_hz=3.5e9, device_height_m=h_ut, bs_height_m=25.0)
        los = draw_los(numpy_stream(seed, "line-of-sight", rnd), uma_los_probability(horizontal, h_ut))
        h_env = 1.0
        if h_ut >= 13.0:
            stream = numpy_stream(seed, "uma-effective-height", rnd)
            h_env = draw_uma_effective_env_height_m(stream, horizontal, h_ut)
            assert np.any(h_env > 1.0)
        loss = uma_38901_db(horizontal, 3.5e9, h_bs_m=25.0, h_ut_m=h_ut, los=los, h_env_m=h_env)
        gain = Channel(config, seed).large_scale_gain(horizontal, vertical, rnd)
        np.testing.assert_array_equal(gain, 10.0 ** (-loss / 10.0))


def test_vectorized_over_devices():
    d = np.linspace(20.0, 2000.0, 1000)
    h = np.full(1000, 60.0)
    for pl in (uma_av_36777_db(d, 2e9, h), umi_av_36777_db(d, 2e9, h), umi_38901_db(d, 3.5e9)):
        assert pl.shape == (1000,)
        assert np.all(np.isfinite(pl))
