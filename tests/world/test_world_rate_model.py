"""The World under radio.rate_model=nr|lte: airtime, energy, grant delay and HARQ drops come from
the 3GPP link abstraction, in the synchronous and the event-driven world."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedsim.errors import ConfigError
from fedsim.world import AccessConfig, AsyncWorld, RoundPlan, Workload, World, WorldConfig
from fedsim.world._mcs_tables import lte_tbs_bits

WORKLOAD = Workload(params=20_000, macs=2e4, activations=200, input_size=64)
PAYLOAD_BITS = 8 * 20_000.0


def round_of(world: World, k: int, payload_bits: float = PAYLOAD_BITS):
    return world.simulate_round(RoundPlan(1, np.arange(k), np.full(k, 5), np.full(k, 8), np.full(k, payload_bits)))


def test_a_near_lte_device_sends_top_mcs_blocks_one_per_tti_after_the_grant_delay():
    """At 10 m the SINR is far above MCS 28's: every TB goes at the top MCS on all 50 PRBs, one per
    1 ms TTI, so the airtime is ceil(payload / TBS) ms; the upload starts 12 ms after training."""
    world = World(WorldConfig.of(num_devices=1, rate_model="lte", area_side_m=10.0, fading="none"), WORKLOAD, seed=0)
    outcome = round_of(world, 1)
    top_tbs = int(lte_tbs_bits(26, 50))  # PUSCH MCS 28 is I_TBS 26 (TS 36.213 Table 8.6.1-1)
    assert top_tbs == 36_696
    assert outcome.upload_s[0] == pytest.approx(math.ceil(PAYLOAD_BITS / top_tbs) * 1e-3)
    assert outcome.upload_start_s[0] == pytest.approx(outcome.compute_s[0] + 0.012)
    assert outcome.energy_uplink_j[0] == pytest.approx(0.1 * outcome.upload_s[0])
    assert outcome.delivered[0] and outcome.drop_reason[0] == ""


def test_shannon_is_faster_than_a_real_link_near_the_base_station():
    kwargs = dict(num_devices=4, area_side_m=30.0, fading="none")
    shannon = round_of(World(WorldConfig.of(**kwargs), WORKLOAD, seed=0), 4)
    for model in ("nr", "lte"):
        real = round_of(World(WorldConfig.of(rate_model=model, **kwargs), WORKLOAD, seed=0), 4)
        assert np.all(real.upload_s > 2 * shannon.upload_s)  # the MCS ceiling: ~5 bit/s/Hz, not ~15


def test_a_device_beyond_the_links_reach_exhausts_harq_and_pays_for_every_transmission():
    world = World(WorldConfig.of(num_devices=1, rate_model="nr", harq_max_tx=2, area_side_m=60_000.0, fading="none"), WORKLOAD, seed=0)
    outcome = round_of(world, 1)
    assert not outcome.delivered[0] and outcome.drop_reason[0] == "harq_exhausted"
    assert outcome.upload_s[0] > 0 and outcome.energy_uplink_j[0] == pytest.approx(0.1 * outcome.upload_s[0])


def test_fdma_splits_the_carriers_prbs_and_refuses_more_devices_than_prbs():
    world = World(WorldConfig.of(num_devices=60, rate_model="lte", access=AccessConfig(scheme="fdma")), WORKLOAD, seed=0)
    shares = world._fdma_prbs(7)
    assert shares.sum() == 50 and shares.max() - shares.min() == 1
    with pytest.raises(ConfigError, match="op.devices_per_round=51 is not allowed: at most 50"):
        round_of(world, 51)


def test_the_same_seed_gives_the_same_harq_outcomes_and_another_seed_other_ones():
    def outcome(seed):
        world = World(WorldConfig.of(num_devices=40, rate_model="nr", area_side_m=3000.0), WORKLOAD, seed=seed)
        return round_of(world, 40)

    a, b, c = outcome(3), outcome(3), outcome(4)
    assert np.array_equal(a.upload_s, b.upload_s) and np.array_equal(a.drop_reason, b.drop_reason)
    assert not np.array_equal(a.upload_s, c.upload_s)


@pytest.mark.parametrize(("values", "key"), [
    ({"rate_model": "wifi"}, "rate_model"),
    ({"rate_model": "nr", "waterfall_threshold": 2.0}, "waterfall_threshold"),
    ({"rate_model": "lte", "numerology": 1}, "numerology"),
    ({"rate_model": "nr", "grant_delay_s": -1.0}, "grant_delay_s"),
    ({"rate_model": "lte", "access": AccessConfig(scheme="ofdma")}, "radio.rate_model"),
])
def test_bad_rate_model_settings_are_config_errors(values, key):
    with pytest.raises(ConfigError) as error:
        WorldConfig.of(num_devices=4, **values)
    assert error.value.key == key


def test_the_event_driven_world_prices_uploads_with_the_rate_model():
    def jobs(model, **extra):
        world = World(WorldConfig.of(**{"num_devices": 6, "rate_model": model, "area_side_m": 40.0, "fading": "none", **extra}), WORKLOAD, seed=0)
        async_world = AsyncWorld(world)
        for device in range(6):
            async_world.dispatch(device, local_iters=5, train_bits=8, uplink_bits=PAYLOAD_BITS, downlink_bits=0.0, version=0)
        done = []
        while len(done) < 6:
            job = async_world.advance()
            if job is not None:
                done.append(job)
        return sorted(done, key=lambda j: j.device)

    shannon, lte = jobs("shannon"), jobs("lte")
    for a, b in zip(shannon, lte, strict=True):
        assert b.ready_s == pytest.approx(a.ready_s + 0.012)  # the grant delay
        assert b.finish_s - b.ready_s > 2 * (a.finish_s - a.ready_s)  # MCS 28's ceiling
        assert b.delivered
    far = jobs("nr", harq_max_tx=1, area_side_m=60_000.0)
    assert all(j.drop_reason == "harq_exhausted" and not j.delivered and j.energy_uplink_j > 0 for j in far)


def test_wideband_link_adaptation_picks_no_higher_mcs_than_the_subband_under_fdma_only():
    def upload_s(link_adaptation, scheme):
        config = WorldConfig.of(num_devices=20, rate_model="lte", link_adaptation=link_adaptation, access=AccessConfig(scheme=scheme),
                                fading="none")
        return round_of(World(config, WORKLOAD, seed=0), 20).upload_s

    sub, wide = upload_s("subband", "fdma"), upload_s("wideband", "fdma")
    assert np.all(wide >= sub) and np.any(wide > sub)  # the power spread over 50 PRBs, not its 2-3
    assert np.array_equal(upload_s("subband", "orthogonal"), upload_s("wideband", "orthogonal"))  # one band: the same SINR


def test_the_optimizers_uplink_energy_per_bit_reads_the_rate_model():
    """E[P / r] with r the link abstraction's payload bits per second on air, for a fading-free
    static cell: the mean over devices of P / airtime_rate_bps at each device's SINR."""
    config = WorldConfig.of(num_devices=8, rate_model="nr", fading="none")
    world = World(config, WORKLOAD, seed=0)
    per_bit = world.expected_uplink_energy_per_bit(drops=3)
    received = 0.1 * world.channel_gains(0)
    n_prb = np.full(8, world.full_band_prbs())
    sinr, occupied_hz = world.link_abstraction_sinr(received, n_prb)
    expected = np.mean(0.1 / world.rate_model.airtime_rate_bps(sinr, occupied_hz, n_prb=n_prb))
    assert per_bit == pytest.approx(expected, rel=1e-12)
    shannon = World(WorldConfig.of(num_devices=8, fading="none"), WORKLOAD, seed=0).expected_uplink_energy_per_bit(drops=3)
    assert per_bit > shannon


def test_the_snr_gap_rule_picks_the_highest_mcs_under_log2_of_one_plus_sinr_over_the_gap():
    from fedsim.world import make_rate_model

    gap_db = 7.43  # -ln(5·5e-5)/1.5: BER 5e-5 on the M-QAM bound (ns-3's LTE AMC)
    model = make_rate_model("lte", snr_gap_db=gap_db)
    sinr = 10.0 ** (np.array([0.0, 6.9, 14.3, 20.0]) / 10.0)
    n_prb = np.full(4, 50)
    mcs = model.select_mcs(sinr, n_prb)
    bits_per_re = model.tbs_bits(np.arange(len(model.table))[None, :], n_prb[:, None]) / (model.re_per_prb * 50)
    capacity = np.log2(1.0 + sinr / 10.0 ** (gap_db / 10.0))
    for k in range(4):
        if bits_per_re[k, 0] <= capacity[k]:
            assert bits_per_re[k, mcs[k]] <= capacity[k]
        if mcs[k] + 1 < bits_per_re.shape[1]:
            assert bits_per_re[k, mcs[k] + 1] > capacity[k]
    assert np.all(np.diff(mcs) >= 0) and mcs[2] < make_rate_model("lte").select_mcs(sinr, n_prb)[2]  # more cautious at 14.3 dB
    wider = make_rate_model("lte", snr_gap_db=12.0).select_mcs(sinr, n_prb)
    assert np.all(wider <= mcs)
