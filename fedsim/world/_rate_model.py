"""Uplink rate models behind one interface: Shannon capacity, or a 3GPP link abstraction (NR, LTE).

``make_rate_model(name, ...)`` returns a RateModel; ``model.upload(sinr, bandwidth_hz,
payload_bits, rng)`` sends each device's payload and says how long it was on air, how many
transmissions it took and whether it arrived, vectorized over devices.

- ``shannon``: rate = B·log2(1 + SINR) (B·mean_n log2(1 + γ_n) over resource blocks), one error-free
  transmission of the whole payload, as fedsim's World has always priced uploads.
- ``nr`` / ``lte``: the device gets ``n_prb`` PRBs in every slot (TTI) and sends one transport
  block (TB) per slot. Link adaptation picks the highest MCS whose first-transmission BLER at the
  scheduler's SINR is at most ``bler_target`` (MCS 0 when none is; the CQI definition of TS 38.214
  §5.2.2.1 and TS 36.213 §7.2.3 with BLER 0.1). The TB size comes from TS 38.214 §5.1.3.2 (NR) or
  TS 36.213 Table 7.1.7.2.1-1 (LTE); the payload goes as ceil(payload / TBS) TBs, each with its
  own HARQ process: chase combining over up to ``harq_max_tx`` transmissions, one slot of airtime
  each (see _harq). The upload arrives only if no TB exhausts its HARQ transmissions; every TB is
  sent either way (the MAC does not know the application's message is lost). Uplink energy is
  transmit power x airtime (:meth:`UploadResult.energy_j`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_choice, check_float, check_int
from fedsim.errors import ConfigError
from fedsim.world import _bler, _harq, _mcs_tables, _resource_grid

RATE_MODELS: tuple[str, ...] = ("shannon", "nr", "lte")
HARQ_MAX_TX_LIMIT = 32  # a bound on per-device binomial draws; 3GPP HARQ uses a handful (LTE maxHARQ-Tx <= 28)
_LN2 = np.log(2.0)


@dataclass(frozen=True)
class UploadResult:
    """One upload per device (all arrays (K,)).

    ``airtime_s``: seconds on air (inf when the device has no resource to send on);
    ``transmissions``: TB transmissions, retransmissions included; ``transport_blocks`` and
    ``lost_blocks`` (those HARQ gave up on); ``delivered``; ``mcs`` (-1 for shannon);
    ``tbs_bits`` (shannon: the payload); ``effective_rate_bps`` = payload / airtime (0 when
    nothing was sent or the airtime is infinite).
    """

    airtime_s: np.ndarray
    transmissions: np.ndarray
    transport_blocks: np.ndarray
    lost_blocks: np.ndarray
    delivered: np.ndarray
    mcs: np.ndarray
    tbs_bits: np.ndarray
    effective_rate_bps: np.ndarray

    @property
    def harq_exhausted(self) -> np.ndarray:
        """Devices whose upload was lost because a TB failed all its HARQ transmissions."""
        return self.lost_blocks > 0

    def energy_j(self, tx_power_w: ArrayLike) -> np.ndarray:
        """Radiated uplink energy P·airtime (no circuit power, as _link's uplink_time_energy)."""
        p = np.asarray(tx_power_w, dtype=float)
        with np.errstate(invalid="ignore"):  # nothing sent, or sent at 0 W: 0 J even on an endless upload
            return np.where((self.airtime_s == 0.0) | (p == 0.0), 0.0, p * self.airtime_s)


def _effective_rate(payload: np.ndarray, airtime: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((airtime > 0) & np.isfinite(airtime), payload / airtime, 0.0)


def _as_devices(sinr_linear: ArrayLike) -> np.ndarray:
    g = np.asarray(sinr_linear, dtype=float)
    if g.ndim not in (1, 2) or not np.all(np.isfinite(g)) or np.any(g < 0):
        raise ConfigError("sinr_linear", f"array of shape {g.shape}", "finite SINRs >= 0 of shape (K,) or (K, resource_blocks)")
    return g


def _payload(payload_bits: ArrayLike, k: int) -> np.ndarray:
    b = np.broadcast_to(np.asarray(payload_bits, dtype=float), (k,))
    if not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ConfigError("payload_bits", payload_bits, "finite bit counts >= 0")
    return b


class RateModel:
    """What every rate model answers; see ShannonRateModel and LinkAbstraction."""

    name: str

    def upload(
        self,
        sinr_linear: ArrayLike,
        bandwidth_hz: ArrayLike,
        payload_bits: ArrayLike,
        rng: np.random.Generator,
        *,
        n_prb: ArrayLike | None = None,
        csi_sinr_linear: ArrayLike | None = None,
    ) -> UploadResult:
        raise NotImplementedError

    def mean_rate_bps(self, sinr_linear: ArrayLike, bandwidth_hz: ArrayLike, *, n_prb: ArrayLike | None = None) -> np.ndarray:
        raise NotImplementedError

    def expected_airtime_s(
        self, sinr_linear: ArrayLike, bandwidth_hz: ArrayLike, payload_bits: ArrayLike, *, n_prb: ArrayLike | None = None
    ) -> np.ndarray:
        raise NotImplementedError

    def loss_probability(
        self, sinr_linear: ArrayLike, bandwidth_hz: ArrayLike, payload_bits: ArrayLike, *, n_prb: ArrayLike | None = None
    ) -> np.ndarray:
        """Probability that an upload is lost (some TB exhausts its HARQ transmissions)."""
        raise NotImplementedError

    def airtime_rate_bps(
        self, sinr_linear: ArrayLike, bandwidth_hz: ArrayLike, *, n_prb: ArrayLike | None = None, csi_sinr_linear: ArrayLike | None = None
    ) -> np.ndarray:
        """Payload bits per second on air, retransmissions included, whether or not the upload
        arrives: what an upload in flight progresses at (the event-driven world's rate). The MCS
        is chosen on ``csi_sinr_linear`` (default: the actual SINR)."""
        raise NotImplementedError


class ShannonRateModel(RateModel):
    """rate = B·log2(1 + SINR); no MCS, no HARQ, no errors (fedsim's historical uplink)."""

    name = "shannon"

    def rate_bps(self, sinr_linear: ArrayLike, bandwidth_hz: ArrayLike) -> np.ndarray:
        g = _as_devices(sinr_linear)
        spectral = np.log1p(g) / _LN2
        if g.ndim == 2:
            spectral = spectral.mean(axis=-1)  # B/n on each of n resource blocks
        return np.asarray(bandwidth_hz, dtype=float) * spectral

    def upload(self, sinr_linear, bandwidth_hz, payload_bits, rng, *, n_prb=None, csi_sinr_linear=None) -> UploadResult:
        rate = self.rate_bps(sinr_linear, bandwidth_hz)
        payload = _payload(payload_bits, rate.shape[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            airtime = np.where(payload == 0.0, 0.0, payload / rate)
        sent = (payload > 0).astype(np.int64)
        return UploadResult(
            airtime_s=airtime, transmissions=sent, transport_blocks=sent, lost_blocks=np.zeros_like(sent),
            delivered=np.isfinite(airtime), mcs=np.full(sent.shape, -1), tbs_bits=payload.astype(np.int64),
            effective_rate_bps=_effective_rate(payload, airtime),
        )

    def mean_rate_bps(self, sinr_linear, bandwidth_hz, *, n_prb=None) -> np.ndarray:
        return self.rate_bps(sinr_linear, bandwidth_hz)

    def expected_airtime_s(self, sinr_linear, bandwidth_hz, payload_bits, *, n_prb=None) -> np.ndarray:
        rate = self.rate_bps(sinr_linear, bandwidth_hz)
        payload = _payload(payload_bits, rate.shape[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(payload == 0.0, 0.0, payload / rate)

    def loss_probability(self, sinr_linear, bandwidth_hz, payload_bits, *, n_prb=None) -> np.ndarray:
        return np.zeros(_as_devices(sinr_linear).shape[0])

    def airtime_rate_bps(self, sinr_linear, bandwidth_hz, *, n_prb=None, csi_sinr_linear=None) -> np.ndarray:
        return self.rate_bps(sinr_linear, bandwidth_hz)


class LinkAbstraction(RateModel):
    """The NR or LTE link abstraction (module docstring); build it with :func:`make_rate_model`."""

    def __init__(
        self,
        rat: str,
        table: _mcs_tables.McsTable,
        cqi_table: _mcs_tables.McsTable,
        *,
        bler_target: float,
        harq_max_tx: int,
        overhead_fraction: float,
        slot_s: float,
        scs_hz: float,
        loss_db: float,
        snr_gap_db: float | None = None,
    ) -> None:
        self.name = rat
        # None: link adaptation meets bler_target; a gap in dB: the SNR-gap rule instead.
        self.snr_gap_db = snr_gap_db
        self.rat = rat
        self.table = table
        self.cqi_table = cqi_table
        self.bler_target = bler_target
        self.harq_max_tx = harq_max_tx
        self.overhead_fraction = overhead_fraction
        self.re_per_prb = _resource_grid.data_re_per_prb(overhead_fraction)
        self.slot_s = slot_s
        self.scs_hz = scs_hz
        self.loss_db = loss_db
        self.max_prb = _mcs_tables.LTE_MAX_PRB if rat == "lte" else _mcs_tables.NR_MAX_PRB

    def __repr__(self) -> str:
        return (f"LinkAbstraction({self.rat!r}, {self.table.name}, bler_target={self.bler_target}, harq_max_tx={self.harq_max_tx}, "
                f"overhead_fraction={self.overhead_fraction:.4f}, slot_s={self.slot_s:g})")

    # --- the resource grid and transport blocks ---

    def prbs(self, bandwidth_hz: ArrayLike, k: int, n_prb: ArrayLike | None = None) -> np.ndarray:
        """PRBs per device: ``n_prb`` if given, else from each device's bandwidth (prb_count)."""
        if n_prb is None:
            n = _resource_grid.prb_count(np.broadcast_to(np.asarray(bandwidth_hz, dtype=float), (k,)), self.rat, self.scs_hz)
        else:
            raw = np.broadcast_to(np.asarray(n_prb), (k,))
            if not np.all(np.isfinite(raw.astype(float))) or np.any(raw.astype(float) != np.round(raw.astype(float))):
                raise ConfigError("n_prb", n_prb, "whole PRB counts")
            n = raw.astype(np.int64)
        if np.any(n < 0) or np.any(n > self.max_prb):
            raise ConfigError("n_prb", n.tolist() if n.size <= 8 else f"up to {int(n.max())}",
                              f"PRB counts in [0, {self.max_prb}] per device ({self.rat}: one TB spans at most {self.max_prb} PRB)")
        return n

    def tbs_bits(self, mcs: ArrayLike, n_prb: ArrayLike) -> np.ndarray:
        """Transport block size (bits) of MCS index ``mcs`` on ``n_prb`` PRBs in one slot."""
        m = np.asarray(mcs, dtype=np.int64)
        if self.rat == "lte":
            return _mcs_tables.lte_tbs_bits(self.table.itbs[m], n_prb)
        return _mcs_tables.nr_tbs_bits(self.table.qm[m], self.table.rate_x1024[m], n_prb, self.re_per_prb)

    def _tb_error(self, sinr_eff: np.ndarray, qm: int, tbs: np.ndarray, n_prb: np.ndarray, rate: np.ndarray) -> np.ndarray:
        coded = self.re_per_prb * n_prb * qm  # rate matching fills every data RE of the allocation
        if self.rat == "lte":
            blocks, per_block = _bler.lte_code_blocks(tbs)
        else:
            blocks, per_block = _bler.nr_code_blocks(tbs, rate)
        return _bler.transport_block_error_rate(sinr_eff, qm, blocks, per_block, coded, self.loss_db)

    def block_error_rates(self, sinr_linear: ArrayLike, n_prb: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(BLER, TBS bits), each (K, number of MCS): the first transmission's TB error of every MCS
        at each device's SINR ((K,) or (K, resource blocks), MIESM-combined per modulation)."""
        g = _as_devices(sinr_linear)
        n = np.asarray(n_prb, dtype=np.int64)
        index = np.arange(len(self.table))
        tbs = self.tbs_bits(index[None, :], n[:, None])
        bler = np.empty(tbs.shape)
        for qm in np.unique(self.table.qm):
            cols = self.table.qm == qm
            eff = _bler.effective_sinr(g, int(qm))
            bler[:, cols] = self._tb_error(eff[:, None], int(qm), tbs[:, cols], n[:, None], self.table.code_rate[cols][None, :])
        return bler, tbs

    def select_mcs(self, sinr_linear: ArrayLike, n_prb: ArrayLike) -> np.ndarray:
        """The highest MCS whose first-transmission BLER is <= bler_target (0 when none is); with
        an SNR gap Γ, the highest whose data bits per data RE are <= log2(1 + SINR/Γ) (the M-QAM
        bound BER <= 0.2·exp(-1.5·SINR/(M - 1)) gives Γ = -ln(5·BER)/1.5; Goldsmith and Chua,
        IEEE Trans. Commun. 45(10), 1997), the rule ns-3's LTE AMC uses at BER 5e-5 (7.4 dB)."""
        if self.snr_gap_db is None:
            bler, _ = self.block_error_rates(sinr_linear, n_prb)
            return _highest_meeting(bler <= self.bler_target)
        g = _as_devices(sinr_linear)
        mean_sinr = g.mean(axis=-1) if g.ndim == 2 else g
        n = np.asarray(n_prb, dtype=np.int64)
        tbs = self.tbs_bits(np.arange(len(self.table))[None, :], n[:, None])
        bits_per_re = tbs / np.maximum(self.re_per_prb * n[:, None], 1)
        capacity = np.log2(1.0 + mean_sinr / 10.0 ** (self.snr_gap_db / 10.0))
        return _highest_meeting(bits_per_re <= capacity[:, None])

    def cqi(self, sinr_linear: ArrayLike, n_prb: ArrayLike) -> np.ndarray:
        """The CQI a UE would report (1..15, 0 = out of range): the highest entry of the CQI table
        whose TB, R·G information bits in the allocation's G coded bits, has BLER <= bler_target."""
        g = _as_devices(sinr_linear)
        n = np.asarray(n_prb, dtype=np.int64)[:, None]
        ok = np.zeros((n.shape[0], len(self.cqi_table)), dtype=bool)
        for qm in np.unique(self.cqi_table.qm):
            cols = np.flatnonzero(self.cqi_table.qm == qm)
            rate = self.cqi_table.code_rate[cols][None, :]
            info = np.floor(rate * self.re_per_prb * n * qm)
            err = self._tb_error(_bler.effective_sinr(g, int(qm))[:, None], int(qm), info, n, rate)
            ok[:, cols] = (err <= self.bler_target) & (info > 0)
        return np.where(ok.any(axis=1), _highest_meeting(ok) + 1, 0)

    def attempt_error_rates(self, sinr_linear: ArrayLike, n_prb: ArrayLike, mcs: ArrayLike) -> np.ndarray:
        """(K, harq_max_tx): p_k, the TB error of attempt k decoded on k chase-combined copies."""
        g = _as_devices(sinr_linear)
        n = np.asarray(n_prb, dtype=np.int64)
        m = np.asarray(mcs, dtype=np.int64)
        tbs = self.tbs_bits(m, n)
        qm = self.table.qm[m]
        out = np.empty((n.size, self.harq_max_tx))
        for q in np.unique(qm):
            rows = qm == q
            for k in range(1, self.harq_max_tx + 1):
                eff = _bler.effective_sinr(_harq.chase_combined_sinr(g[rows], k), int(q))
                out[rows, k - 1] = self._tb_error(eff, int(q), tbs[rows], n[rows], self.table.code_rate[m[rows]])
        return out

    # --- what the World calls ---

    def _plan(self, sinr_linear, bandwidth_hz, n_prb, csi_sinr_linear):
        g = _as_devices(sinr_linear)
        k = g.shape[0]
        n = self.prbs(bandwidth_hz, k, n_prb)
        csi = g if csi_sinr_linear is None else _as_devices(csi_sinr_linear)
        if csi.shape[0] != k:
            raise ConfigError("csi_sinr_linear", f"array of shape {csi.shape}", f"{k} devices, as sinr_linear")
        mcs = self.select_mcs(csi, n)
        return g, n, mcs, self.tbs_bits(mcs, n), self.attempt_error_rates(g, n, mcs)

    def upload(self, sinr_linear, bandwidth_hz, payload_bits, rng, *, n_prb=None, csi_sinr_linear=None) -> UploadResult:
        """Send ``payload_bits`` (K,) per device; MCS chosen on ``csi_sinr_linear`` (default: the
        actual SINR, perfect CSI), outcomes drawn on ``sinr_linear`` from ``rng``."""
        g, n, mcs, tbs, attempt_error = self._plan(sinr_linear, bandwidth_hz, n_prb, csi_sinr_linear)
        payload = _payload(payload_bits, g.shape[0])
        possible = tbs > 0
        blocks = np.where(possible & (payload > 0), np.ceil(payload / np.maximum(tbs, 1)), 0).astype(np.int64)
        transmissions, lost = _harq.draw_transmissions(rng, blocks, attempt_error)
        stuck = ~possible & (payload > 0)  # no PRB to send on: the upload never ends
        airtime = np.where(stuck, np.inf, transmissions * self.slot_s)
        return UploadResult(
            airtime_s=airtime, transmissions=transmissions, transport_blocks=blocks, lost_blocks=lost,
            delivered=(lost == 0) & ~stuck, mcs=mcs, tbs_bits=tbs, effective_rate_bps=_effective_rate(payload, airtime),
        )

    def mean_rate_bps(self, sinr_linear, bandwidth_hz, *, n_prb=None) -> np.ndarray:
        """Expected goodput TBS·(1 - P[HARQ exhausted]) / (E[transmissions per TB]·slot)."""
        _, _, _, tbs, attempt_error = self._plan(sinr_linear, bandwidth_hz, n_prb, None)
        delivered = 1.0 - _harq.residual_error(attempt_error)
        return tbs * delivered / (_harq.expected_transmissions(attempt_error) * self.slot_s)

    def expected_airtime_s(self, sinr_linear, bandwidth_hz, payload_bits, *, n_prb=None) -> np.ndarray:
        """ceil(payload / TBS)·E[transmissions per TB]·slot (inf with no PRB)."""
        g, _, _, tbs, attempt_error = self._plan(sinr_linear, bandwidth_hz, n_prb, None)
        payload = _payload(payload_bits, g.shape[0])
        blocks = np.where(payload > 0, np.ceil(payload / np.maximum(tbs, 1)), 0.0)
        airtime = blocks * _harq.expected_transmissions(attempt_error) * self.slot_s
        return np.where((tbs == 0) & (payload > 0), np.inf, airtime)

    def airtime_rate_bps(self, sinr_linear, bandwidth_hz, *, n_prb=None, csi_sinr_linear=None) -> np.ndarray:
        """TBS / (E[transmissions per TB]·slot): a TB's bits over the airtime HARQ spends on it."""
        _, _, _, tbs, attempt_error = self._plan(sinr_linear, bandwidth_hz, n_prb, csi_sinr_linear)
        return tbs / (_harq.expected_transmissions(attempt_error) * self.slot_s)

    def loss_probability(self, sinr_linear, bandwidth_hz, payload_bits, *, n_prb=None) -> np.ndarray:
        """1 - (1 - P[a TB exhausts HARQ])^ceil(payload / TBS) (1 with no PRB to send on)."""
        g, _, _, tbs, attempt_error = self._plan(sinr_linear, bandwidth_hz, n_prb, None)
        payload = _payload(payload_bits, g.shape[0])
        blocks = np.where(payload > 0, np.ceil(payload / np.maximum(tbs, 1)), 0.0)
        arrives = (1.0 - _harq.residual_error(attempt_error)) ** blocks
        return np.where((tbs == 0) & (payload > 0), 1.0, 1.0 - arrives)


def _highest_meeting(ok: np.ndarray) -> np.ndarray:
    """Per row, the last column index that is True (0 for a row without any)."""
    last = ok.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
    return np.where(ok.any(axis=1), last, 0)


def make_rate_model(
    name: str = "shannon",
    *,
    bler_target: float = 0.1,
    harq_max_tx: int = 4,
    overhead_fraction: float | None = None,
    numerology: int = 0,
    mcs_table: str | None = None,
    implementation_loss_db: float = 0.0,
    snr_gap_db: float | None = None,
) -> RateModel:
    """The rate model ``radio.rate_model`` names, its settings checked (ConfigError keys under radio.).

    ``bler_target`` in (0, 1): first-transmission BLER link adaptation aims at (0.1, the CQI
    definition's). ``harq_max_tx`` in [1, 32]: transmissions per TB before HARQ gives up (4: one
    per redundancy version 0..3 that TS 38.212 §5.4.2.1 defines; NR leaves the limit to the
    gNB, and LTE's RRC maxHARQ-Tx defaults to 5, TS 36.331). ``overhead_fraction`` in [0, 1): the share of each PRB's REs that
    carries no data, None for the spec default (see _resource_grid). ``numerology`` μ (NR only;
    LTE is 0). ``mcs_table``: NR qam64 (default, TS 38.214 Table 5.1.3.1-1) or qam256; LTE pusch
    (default, TS 36.213 Table 8.6.1-1) or pdsch. ``implementation_loss_db`` >= 0: decoder and
    channel-estimation loss against the best finite-length code (0: none assumed).
    """
    check_choice("radio.rate_model", name, RATE_MODELS)
    target = check_float("radio.bler_target", bler_target, low=0.0, high=1.0, low_open=True, high_open=True)
    max_tx = check_int("radio.harq_max_tx", harq_max_tx, 1, HARQ_MAX_TX_LIMIT)
    mu = check_int("radio.numerology", numerology, 0, max(_resource_grid.NR_NUMEROLOGIES))
    loss = check_float("radio.implementation_loss_db", implementation_loss_db, low=0.0, high=30.0)
    if snr_gap_db is not None:
        check_float("radio.snr_gap_db", snr_gap_db, low=0.0, high=30.0)
    if overhead_fraction is not None:
        _resource_grid.data_re_per_prb(overhead_fraction)  # checks it
    if name == "shannon":
        return ShannonRateModel()
    if name == "lte":
        if mu != 0:
            raise ConfigError("radio.numerology", numerology, "0 with rate_model=lte (15 kHz subcarriers, 1 ms TTI)")
        table = _mcs_tables.lte_mcs_table("pusch" if mcs_table is None else mcs_table)
        cqi_table, slot_s, scs_hz = _mcs_tables.LTE_CQI, 1e-3, 15e3
        default_overhead = _resource_grid.LTE_DEFAULT_OVERHEAD_FRACTION
    else:
        table = _mcs_tables.nr_mcs_table("qam64" if mcs_table is None else mcs_table)
        cqi_table = _mcs_tables.NR_CQI["qam256" if table is _mcs_tables.NR_MCS["qam256"] else "qam64"]
        slot_s, scs_hz = _resource_grid.nr_slot_s(mu), _resource_grid.nr_scs_hz(mu)
        default_overhead = _resource_grid.NR_DEFAULT_OVERHEAD_FRACTION
    overhead = default_overhead if overhead_fraction is None else float(overhead_fraction)
    return LinkAbstraction(
        name, table, cqi_table, bler_target=target, harq_max_tx=max_tx, overhead_fraction=overhead,
        slot_s=slot_s, scs_hz=scs_hz, loss_db=loss, snr_gap_db=snr_gap_db,
    )
