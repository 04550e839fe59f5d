"""The 3GPP link abstraction: MCS/CQI tables, transport block sizes, BICM information and MIESM,
finite-length BLER, MCS selection, HARQ chase combining and the RateModel interface."""

import math

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.world import _bler, _harq, _mcs_tables, _resource_grid
from fedsim.world._link import rate_bps
from fedsim.world._rate_model import RATE_MODELS, LinkAbstraction, ShannonRateModel, make_rate_model

DB = lambda x: 10.0 ** (np.asarray(x, dtype=float) / 10.0)  # noqa: E731


# --- tables (TS 38.214, TS 36.213) ---


@pytest.mark.parametrize(("table", "index", "qm", "rate_x1024", "se"), [
    ("qam64", 0, 2, 120, 0.2344),   # TS 38.214 Table 5.1.3.1-1
    ("qam64", 9, 2, 679, 1.3262),
    ("qam64", 10, 4, 340, 1.3281),
    ("qam64", 17, 6, 438, 2.5664),
    ("qam64", 27, 6, 910, 5.3320),
    ("qam64", 28, 6, 948, 5.5547),
    ("qam256", 0, 2, 120, 0.2344),  # TS 38.214 Table 5.1.3.1-2
    ("qam256", 5, 4, 378, 1.4766),
    ("qam256", 20, 8, 682.5, 5.3320),
    ("qam256", 26, 8, 916.5, 7.1602),
    ("qam256", 27, 8, 948, 7.4063),
])
def test_nr_mcs_tables_hold_the_spec_entries(table, index, qm, rate_x1024, se):
    t = _mcs_tables.NR_MCS[table]
    assert (t.qm[index], t.rate_x1024[index]) == (qm, rate_x1024)
    assert float(t.spectral_efficiency[index]) == pytest.approx(se, abs=5.1e-5)  # the spec rounds half up to 4 decimals


def test_table_lengths_and_cqi_tables():
    assert len(_mcs_tables.NR_MCS["qam64"]) == 29 and len(_mcs_tables.NR_MCS["qam256"]) == 28
    cqi1, cqi2 = _mcs_tables.NR_CQI["qam64"], _mcs_tables.NR_CQI["qam256"]
    assert len(cqi1) == len(cqi2) == 15
    # TS 38.214 Table 5.2.2.1-2: CQI 1 = QPSK 78 (0.1523), CQI 7 = 16QAM 378, CQI 15 = 64QAM 948 (5.5547)
    assert (cqi1.qm[0], cqi1.rate_x1024[0]) == (2, 78) and float(cqi1.spectral_efficiency[0]) == pytest.approx(0.1523, abs=5.1e-5)
    assert (cqi1.qm[6], cqi1.rate_x1024[6]) == (4, 378) and (cqi1.qm[14], cqi1.rate_x1024[14]) == (6, 948)
    # Table 5.2.2.1-3: CQI 12 = 256QAM 711, CQI 15 = 256QAM 948 (7.4063)
    assert (cqi2.qm[11], cqi2.rate_x1024[11]) == (8, 711) and float(cqi2.spectral_efficiency[14]) == pytest.approx(7.4063, abs=5.1e-5)
    # TS 36.213 Table 7.2.3-1 has the same 15 entries as NR's table 1
    assert np.array_equal(_mcs_tables.LTE_CQI.qm, cqi1.qm) and np.array_equal(_mcs_tables.LTE_CQI.rate_x1024, cqi1.rate_x1024)
    # spectral efficiency rises with the index within each modulation (the MCS tables overlap at a
    # switch: 64QAM table MCS 16, 16QAM 658, carries 2.5703 bit/RE and MCS 17, 64QAM 438, 2.5664)
    for t in (*_mcs_tables.NR_MCS.values(), cqi1, cqi2):
        same = np.diff(t.qm) == 0
        assert np.all(np.diff(t.spectral_efficiency)[same] > 0) and np.all(np.diff(t.qm) >= 0), t
    assert np.all(np.diff(cqi1.spectral_efficiency) > 0) and np.all(np.diff(cqi2.spectral_efficiency) > 0)


@pytest.mark.parametrize(("table", "mcs", "qm", "itbs"), [
    ("pusch", 0, 2, 0), ("pusch", 10, 2, 10), ("pusch", 11, 4, 10), ("pusch", 20, 4, 19),  # TS 36.213 Table 8.6.1-1
    ("pusch", 21, 6, 19), ("pusch", 28, 6, 26),
    ("pdsch", 9, 2, 9), ("pdsch", 10, 4, 9), ("pdsch", 16, 4, 15), ("pdsch", 17, 6, 15), ("pdsch", 28, 6, 26),  # Table 7.1.7.1-1
])
def test_lte_mcs_to_itbs(table, mcs, qm, itbs):
    t = _mcs_tables.LTE_MCS[table]
    assert len(t) == 29 and (t.qm[mcs], t.itbs[mcs]) == (qm, itbs)


def test_lte_tbs_table_entries():
    """TS 36.213 Table 7.1.7.2.1-1, entries checked against a second transcription of the spec."""
    table = _mcs_tables.lte_tbs_table()
    assert table.shape == (27, 110)
    assert list(table[0, :10]) == [16, 32, 56, 88, 120, 152, 176, 208, 224, 256]
    assert list(table[8, :6]) == [120, 256, 392, 536, 680, 808]
    assert list(table[:, 0][[0, 9, 10, 26]]) == [16, 136, 144, 712]
    assert table[0, 99] == 2792 and table[26, 99] == 75376 and table[26, 109] == 75376
    assert list(table[16, -4:]) == [35160] * 4
    assert np.all(np.diff(table, axis=0) >= 0) and np.all(np.diff(table, axis=1) >= 0)
    assert list(_mcs_tables.lte_tbs_bits([0, 26, 5], [1, 100, 0])) == [16, 75376, 0]
    with pytest.raises(ConfigError, match="n_prb"):
        _mcs_tables.lte_tbs_bits(3, 111)


@pytest.mark.parametrize(("qm", "rate_x1024", "n_prb", "tbs"), [
    # N'_RE = 132 (168 - 36 DMRS REs). By hand, TS 38.214 §5.1.3.2:
    # N_info = 132·(120/1024)·2 = 30.94 -> n = 3, N'_info = max(24, 8·floor(3.87)) = 24 -> 24
    (2, 120, 1, 24),
    # N_info = 1320·(679/1024)·2 = 1750.5 -> n = 4, N'_info = 16·109 = 1744 -> next table entry 1800
    (2, 679, 10, 1800),
    # N_info = 6864·(948/1024)·6 = 38127.4 -> n = 10, N'_info = 1024·round(37.21) = 37888;
    # C = ceil(37912/8424) = 5, TBS = 40·ceil(37912/40) - 24 = 37896
    (6, 948, 52, 37896),
    # R <= 1/4: N_info = 36036·(120/1024)·2 = 8445.9 -> n = 8, N'_info = 256·33 = 8448;
    # C = ceil(8472/3816) = 3, TBS = 24·ceil(8472/24) - 24 = 8448
    (2, 120, 273, 8448),
    # two LDPC blocks: N_info = 3960·(658/1024)·4 = 10178.4 -> n = 8, N'_info = 256·round(39.67) = 10240;
    # C = ceil(10264/8424) = 2, TBS = 16·ceil(10264/16) - 24 = 10248
    (4, 658, 30, 10248),
])
def test_nr_tbs_by_hand(qm, rate_x1024, n_prb, tbs):
    assert int(_mcs_tables.nr_tbs_bits(qm, rate_x1024, n_prb, 132)) == tbs


def test_nr_tbs_small_table_and_zero_prbs():
    assert _mcs_tables.NR_SMALL_TBS_BITS.size == 93 and _mcs_tables.NR_SMALL_TBS_BITS[-1] == 3824
    assert np.all(np.diff(_mcs_tables.NR_SMALL_TBS_BITS) > 0)
    assert int(_mcs_tables.nr_tbs_bits(6, 948, 0, 132)) == 0
    # the N'_RE cap of 156 (TS 38.214 §5.1.3.2): 160 data REs count as 156
    assert int(_mcs_tables.nr_tbs_bits(4, 490, 20, 160)) == int(_mcs_tables.nr_tbs_bits(4, 490, 20, 156))


# --- resource grid (TS 38.101-1 Table 5.3.2-1, TS 36.101 Table 5.6-1, TS 38.211 §4) ---


def test_prb_counts_and_numerology():
    assert list(_resource_grid.prb_count([1.4e6, 5e6, 10e6, 20e6], "lte")) == [6, 25, 50, 100]
    assert list(_resource_grid.prb_count([5e6, 10e6, 20e6, 50e6], "nr", 15e3)) == [25, 52, 106, 270]
    assert list(_resource_grid.prb_count([20e6, 100e6], "nr", 30e3)) == [51, 273]
    assert list(_resource_grid.prb_count([100e6, 400e6], "nr", 120e3)) == [66, 264]  # FR2, TS 38.101-2
    assert list(_resource_grid.prb_count([1e6, 2e6], "lte")) == [5, 11]  # a share of a carrier: floor(B/180 kHz)
    assert _resource_grid.nr_slot_s(1) == 0.5e-3 and _resource_grid.nr_scs_hz(2) == 60e3
    assert _resource_grid.data_re_per_prb(_resource_grid.NR_DEFAULT_OVERHEAD_FRACTION) == 132
    assert _resource_grid.data_re_per_prb(_resource_grid.LTE_DEFAULT_OVERHEAD_FRACTION) == 144


# --- BICM information, MIESM, finite-length BLER ---


def test_bicm_information_known_points_and_bounds():
    # BI-AWGN at Es/N0 = 0 dB carries 0.486 bit; rate 1/2 needs Eb/N0 = 0.187 dB (the binary-input Shannon limit)
    assert float(_bler.bit_information(1.0, 2)) == pytest.approx(0.486, abs=1e-3)
    assert float(_bler.bit_information(DB(0.187), 2)) == pytest.approx(0.5, abs=2e-3)
    snr = DB(np.arange(-20, 40, 0.5))
    for qm in _bler.MODULATION_ORDERS:
        info = _bler.bit_information(snr, qm)
        assert np.all(np.diff(info) >= 0) and info[-1] == pytest.approx(1.0, abs=1e-6)
        assert np.all(qm * info <= np.log2(1 + snr) + 1e-6)  # BICM never beats Gaussian-input capacity
    for low, high in zip(_bler.MODULATION_ORDERS, _bler.MODULATION_ORDERS[1:]):
        assert np.all(_bler.bit_information(snr, high) <= _bler.bit_information(snr, low) + 1e-9)


def test_miesm_effective_sinr():
    flat = np.full((3, 6), DB(7.0))
    assert np.allclose(_bler.effective_sinr(flat, 4), DB(7.0), rtol=1e-3)
    mixed = DB(np.array([[0.0, 20.0], [5.0, 15.0]]))
    eff = _bler.effective_sinr(mixed, 4)
    assert np.all(eff > mixed.min(axis=1)) and np.all(eff < mixed.mean(axis=1))  # Jensen: I is concave
    # MIESM keeps the mutual information
    assert np.allclose(_bler.bit_information(eff, 4), _bler.bit_information(mixed, 4).mean(axis=1), atol=1e-3)


def test_code_block_error_is_one_half_where_the_margin_vanishes():
    """ε = Q((n·I - k + ½·log2 n)/sqrt(n·V)) is 1/2 at the SINR where n·I = k - ½·log2 n."""
    k, n = 1000, 2000
    target = (k - 0.5 * math.log2(n)) / n
    snr_db = np.interp(target, _bler.bit_information(DB(np.arange(-5, 10, 0.01)), 2), np.arange(-5, 10, 0.01))
    assert float(_bler.code_block_error_rate(DB(snr_db), 2, k, n)) == pytest.approx(0.5, abs=0.02)
    # 1 dB of implementation loss is the same as 1 dB less SINR
    assert float(_bler.code_block_error_rate(DB(snr_db + 1.0), 2, k, n, loss_db=1.0)) == pytest.approx(
        float(_bler.code_block_error_rate(DB(snr_db), 2, k, n)), abs=1e-9)


def test_code_block_segmentation():
    # NR (TS 38.212): 3824 bits -> CRC16, one BG2 block; 8424 at R = 0.9 -> CRC24, one BG1 block;
    # 37896 at R = 0.93 -> 37920 bits into ceil(37920/8424) = 5 blocks of (37920 + 120)/5
    c, k = _bler.nr_code_blocks([3824, 8424, 37896], [0.5, 0.9, 0.93])
    assert list(c) == [1, 1, 5] and list(k) == [3840, 8448, 7608]
    # BG2 (K_cb 3840) at R <= 0.25: 8448 bits -> 8472 in ceil(8472/3816) = 3 blocks
    c, _ = _bler.nr_code_blocks(8448, 0.117)
    assert c == 3
    # LTE (TS 36.212): 6120 + 24 = 6144 fits one block; 75376 + 24 -> ceil(75400/6120) = 13 blocks
    c, k = _bler.lte_code_blocks([6120, 75376])
    assert list(c) == [1, 13] and k[1] == pytest.approx((75400 + 13 * 24) / 13)


def test_bler_curves_fall_with_sinr_for_every_mcs():
    model = make_rate_model("nr")
    snr = DB(np.arange(-10, 30, 0.5))
    bler, _ = model.block_error_rates(snr, np.full(snr.size, 25))
    assert np.all(np.diff(bler, axis=0) <= 1e-12)
    assert np.all(bler[0, :] > 0.99) and np.all(bler[-1, :] < 1e-6)
    # at one SINR, the most robust MCS errs least and the least robust most
    mid = np.searchsorted(np.arange(-10, 30, 0.5), 8.0)
    assert bler[mid, 0] == bler[mid].min() and bler[mid, -1] == bler[mid].max()


# --- link adaptation, HARQ, uploads ---


@pytest.mark.parametrize("name", ["nr", "lte"])
@pytest.mark.parametrize("target", [0.01, 0.1, 0.3])
def test_mcs_choice_is_the_highest_that_meets_the_target(name, target):
    model = make_rate_model(name, bler_target=target)
    snr = DB(np.arange(-4, 28, 1.5))
    n = np.full(snr.size, 50)
    bler, _ = model.block_error_rates(snr, n)
    mcs = model.select_mcs(snr, n)
    rows = np.arange(snr.size)
    meets = bler[rows, mcs] <= target
    assert np.all(meets | (mcs == 0))
    for row, m in zip(rows, mcs):
        assert np.all(bler[row, m + 1 :] > target)
    assert np.all(np.diff(mcs) >= 0) and mcs[-1] == len(model.table) - 1


def test_a_stricter_target_never_picks_a_higher_mcs():
    snr = DB(np.arange(-4, 28, 1.0))
    n = np.full(snr.size, 24)
    loose = make_rate_model("nr", bler_target=0.3).select_mcs(snr, n)
    strict = make_rate_model("nr", bler_target=0.01).select_mcs(snr, n)
    assert np.all(strict <= loose) and np.any(strict < loose)


def test_chase_combining_raises_the_success_probability():
    model = make_rate_model("nr", harq_max_tx=4)
    snr = DB([2.0, 8.0])
    n = np.array([20, 20])
    mcs = np.array([12, 20])  # both above what the SINR supports on a first try
    p = model.attempt_error_rates(snr, n, mcs)
    assert p.shape == (2, 4) and np.all(np.diff(p, axis=1) <= 0) and np.all(p[:, 0] > 0.5) and np.all(p[:, -1] < p[:, 0])
    one = make_rate_model("nr", harq_max_tx=1).attempt_error_rates(snr, n, mcs)
    assert np.all(_harq.residual_error(p) < _harq.residual_error(one))
    assert np.all(_harq.expected_transmissions(p) > 1.0)


def test_harq_draws_match_their_expectation():
    rng = np.random.default_rng(7)
    p = np.array([[0.6, 0.3, 0.1, 0.05], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    blocks = np.array([200_000, 50, 3])
    total, lost = _harq.draw_transmissions(rng, blocks, p)
    expected = _harq.expected_transmissions(p)
    assert expected[0] == pytest.approx(1 + 0.6 + 0.6 * 0.3 + 0.6 * 0.3 * 0.1)
    assert total[0] / blocks[0] == pytest.approx(expected[0], rel=5e-3)
    assert lost[0] / blocks[0] == pytest.approx(0.6 * 0.3 * 0.1 * 0.05, rel=0.1)
    assert (total[1], lost[1]) == (50, 0) and (total[2], lost[2]) == (12, 3)


def test_expected_airtime_approaches_payload_over_tbs_per_slot_at_high_sinr():
    model = make_rate_model("nr", numerology=1)
    n = np.array([52, 106])
    snr = DB([40.0, 40.0])
    payload = np.array([1e6, 3.3e6])
    mcs = model.select_mcs(snr, n)
    tbs = model.tbs_bits(mcs, n)
    assert list(mcs) == [28, 28]
    ideal = np.ceil(payload / tbs) * 0.5e-3
    assert np.allclose(model.expected_airtime_s(snr, 40e6, payload, n_prb=n), ideal, rtol=1e-9)
    result = model.upload(snr, 40e6, payload, np.random.default_rng(0), n_prb=n)
    assert np.allclose(result.airtime_s, ideal) and result.delivered.all()
    assert np.allclose(model.mean_rate_bps(snr, 40e6, n_prb=n), tbs / 0.5e-3, rtol=1e-9)


@pytest.mark.parametrize("name", ["nr", "lte"])
def test_link_rates_stay_below_shannon_capacity(name):
    model = make_rate_model(name)
    snr = DB(np.arange(-10, 35, 1.0))
    n = np.full(snr.size, 50)
    prb_bandwidth = 50 * 12 * 15e3
    assert np.all(model.mean_rate_bps(snr, 10e6, n_prb=n) < rate_bps(prb_bandwidth, snr))
    assert np.all(np.diff(model.mean_rate_bps(snr, 10e6, n_prb=n)) >= -1e-6 * prb_bandwidth)


def test_upload_is_deterministic_and_counts_transmissions():
    model = make_rate_model("lte", harq_max_tx=3)
    snr = DB([-8.0, 3.0, 12.0, 25.0, 0.0])
    payload = np.array([2e5, 2e5, 2e5, 0.0, 1e4])
    first = model.upload(snr, 5e6, payload, np.random.default_rng(3))
    again = model.upload(snr, 5e6, payload, np.random.default_rng(3))
    for field in ("airtime_s", "transmissions", "lost_blocks", "delivered", "mcs"):
        assert np.array_equal(getattr(first, field), getattr(again, field))
    assert np.array_equal(first.transport_blocks[:3], np.ceil(2e5 / first.tbs_bits[:3]).astype(int))
    assert np.all(first.transmissions >= first.transport_blocks) and np.all(first.transmissions <= 3 * first.transport_blocks)
    assert np.allclose(first.airtime_s, first.transmissions * 1e-3)
    assert first.airtime_s[3] == 0.0 and first.delivered[3] and first.transmissions[3] == 0
    assert np.allclose(first.energy_j(0.2), 0.2 * first.airtime_s)
    assert np.array_equal(first.delivered, first.lost_blocks == 0)


def test_a_dead_channel_exhausts_harq_and_no_prb_never_ends():
    model = make_rate_model("nr", harq_max_tx=4)
    result = model.upload([0.0, 10.0], 10e6, [1e4, 1e4], np.random.default_rng(0), n_prb=[10, 0])
    assert result.harq_exhausted[0] and not result.delivered[0]
    assert result.transmissions[0] == 4 * result.transport_blocks[0] == result.lost_blocks[0] * 4
    assert result.airtime_s[1] == np.inf and not result.delivered[1] and result.effective_rate_bps[1] == 0.0
    assert model.expected_airtime_s([10.0], 10e6, [1e4], n_prb=[0])[0] == np.inf


def test_mcs_follows_the_scheduler_csi_and_outcomes_the_real_channel():
    model = make_rate_model("nr", harq_max_tx=1)
    real = DB([5.0])
    stale = DB([25.0])  # the scheduler believes the channel is 20 dB better than it is
    result = model.upload(real, 10e6, [1e5], np.random.default_rng(1), csi_sinr_linear=stale)
    assert result.mcs[0] == model.select_mcs(stale, [52])[0] > model.select_mcs(real, [52])[0]
    assert result.harq_exhausted[0]


def test_frequency_selective_sinr_goes_through_miesm():
    model = make_rate_model("nr")
    flat = DB(np.full((1, 8), 12.0))
    mcs_flat = model.select_mcs(flat, [40])
    assert mcs_flat[0] == model.select_mcs(DB([12.0]), [40])[0]
    faded = DB(np.array([[0.0, 24.0] * 4]))  # linear mean 21 dB, but far less information than a flat 21 dB
    assert model.select_mcs(DB([0.0]), [40])[0] < model.select_mcs(faded, [40])[0] < model.select_mcs(DB([21.0]), [40])[0]
    assert model.cqi(DB([-20.0, 5.0, 40.0]), [50, 50, 50]).tolist()[0] == 0
    cqi = model.cqi(DB(np.arange(-8, 30, 2.0)), np.full(19, 50))
    assert np.all(np.diff(cqi) >= 0) and cqi[-1] == 15


def test_shannon_model_matches_the_link_formula():
    model = make_rate_model()
    assert isinstance(model, ShannonRateModel) and model.name == "shannon"
    snr = np.array([0.5, 10.0, 0.0])
    r = model.upload(snr, 2e6, [1e6, 1e6, 1e6], np.random.default_rng(0))
    assert np.allclose(r.airtime_s[:2], 1e6 / rate_bps(2e6, snr[:2]))
    assert r.airtime_s[2] == np.inf and list(r.delivered) == [True, True, False] and list(r.mcs) == [-1, -1, -1]
    per_rb = model.mean_rate_bps(np.array([[1.0, 3.0]]), 2e6)
    assert per_rb[0] == pytest.approx(1e6 * (math.log2(2) + math.log2(4)))


def test_make_rate_model_settings():
    assert set(RATE_MODELS) == {"shannon", "nr", "lte"}
    nr = make_rate_model("nr", numerology=1, mcs_table="qam256", overhead_fraction=0.25, harq_max_tx=2, bler_target=0.05)
    assert isinstance(nr, LinkAbstraction) and nr.slot_s == 0.5e-3 and nr.scs_hz == 30e3 and nr.re_per_prb == 126
    assert nr.table is _mcs_tables.NR_MCS["qam256"] and nr.harq_max_tx == 2 and nr.bler_target == 0.05
    lte = make_rate_model("lte")
    assert lte.slot_s == 1e-3 and lte.re_per_prb == 144 and lte.table is _mcs_tables.LTE_MCS["pusch"]
    # more overhead: fewer data REs, smaller NR transport blocks
    lean = make_rate_model("nr", overhead_fraction=0.0)
    assert lean.tbs_bits(20, 50) > make_rate_model("nr").tbs_bits(20, 50)


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"name": "wifi"}, "radio.rate_model"),
    ({"name": "nr", "bler_target": 0.0}, "radio.bler_target"),
    ({"name": "nr", "bler_target": 1.0}, "radio.bler_target"),
    ({"name": "lte", "bler_target": float("nan")}, "radio.bler_target"),
    ({"name": "nr", "harq_max_tx": 0}, "radio.harq_max_tx"),
    ({"name": "nr", "harq_max_tx": 2.5}, "radio.harq_max_tx"),
    ({"name": "nr", "overhead_fraction": 1.0}, "radio.overhead_fraction"),
    ({"name": "lte", "overhead_fraction": -0.1}, "radio.overhead_fraction"),
    ({"name": "nr", "overhead_fraction": 0.999}, "radio.overhead_fraction"),
    ({"name": "shannon", "bler_target": 2.0}, "radio.bler_target"),
    ({"name": "lte", "numerology": 1}, "radio.numerology"),
    ({"name": "nr", "numerology": 4}, "radio.numerology"),
    ({"name": "nr", "mcs_table": "qam1024"}, "radio.mcs_table"),
    ({"name": "lte", "mcs_table": "qam256"}, "radio.mcs_table"),
    ({"name": "nr", "implementation_loss_db": -1.0}, "radio.implementation_loss_db"),
])
def test_bad_settings_raise_config_error(kwargs, key):
    with pytest.raises(ConfigError) as error:
        make_rate_model(**kwargs)
    assert error.value.key == key


def test_bad_upload_inputs_raise_config_error():
    lte = make_rate_model("lte")
    with pytest.raises(ConfigError, match="n_prb"):
        lte.upload([10.0], 40e6, [1e5], np.random.default_rng(0), n_prb=[200])
    with pytest.raises(ConfigError, match="sinr_linear"):
        lte.upload([-1.0], 10e6, [1e5], np.random.default_rng(0))
    with pytest.raises(ConfigError, match="payload_bits"):
        lte.upload([1.0], 10e6, [-5.0], np.random.default_rng(0))
    with pytest.raises(ConfigError, match="radio.bandwidth_hz"):
        lte.upload([1.0], -1.0, [5.0], np.random.default_rng(0))
