"""3GPP modulation-and-coding tables and transport block sizes (NR and LTE), as numpy arrays.

Every table is the spec's, typed from the cited 3GPP release-16/17 text (none is fitted):

- NR MCS index tables for PDSCH/PUSCH: TS 38.214 Table 5.1.3.1-1 (up to 64QAM) and Table
  5.1.3.1-2 (up to 256QAM); PUSCH without transform precoding uses the same tables (38.214
  §6.1.4.1). Indices 29-31 (28-31 for 256QAM) are retransmission-only ("reserved") and left out.
- NR CQI tables: TS 38.214 Table 5.2.2.1-2 (64QAM) and Table 5.2.2.1-3 (256QAM).
- LTE CQI table: TS 36.213 Table 7.2.3-1 (the same entries as NR's Table 5.2.2.1-2).
- LTE MCS -> (Qm, I_TBS): TS 36.213 Table 8.6.1-1 (PUSCH) and Table 7.1.7.1-1 (PDSCH).
- LTE transport block sizes: TS 36.213 Table 7.1.7.2.1-1 (27 I_TBS x 110 PRB), read from
  data/lte_tbs.csv, which data/make_lte_tbs.py generates (see there for its source).
- NR transport block size: the TS 38.214 §5.1.3.2 procedure (and §6.1.4.2, the same for
  PUSCH), computed, with Table 5.1.3.2-1 for N_info <= 3824.

A code rate R is the spec's "R x 1024" divided by 1024; spectral efficiency is Qm·R bit per
resource element.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from fedsim.errors import ConfigError

# One table: (modulation order Qm, target code rate R x 1024) per index. The spectral efficiency
# column of the spec is Qm·R rounded to 4 decimals, so it is derived rather than typed twice.
# TS 38.214 Table 5.1.3.1-1 (MCS index table 1, 64QAM), I_MCS 0..28.
_NR_MCS_QAM64 = (
    (2, 120), (2, 157), (2, 193), (2, 251), (2, 308), (2, 379), (2, 449), (2, 526), (2, 602), (2, 679),
    (4, 340), (4, 378), (4, 434), (4, 490), (4, 553), (4, 616), (4, 658),
    (6, 438), (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772), (6, 822), (6, 873),
    (6, 910), (6, 948),
)
# TS 38.214 Table 5.1.3.1-2 (MCS index table 2, 256QAM), I_MCS 0..27 (two rates are half-integers).
_NR_MCS_QAM256 = (
    (2, 120), (2, 193), (2, 308), (2, 449), (2, 602),
    (4, 378), (4, 434), (4, 490), (4, 553), (4, 616), (4, 658),
    (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772), (6, 822), (6, 873),
    (8, 682.5), (8, 711), (8, 754), (8, 797), (8, 841), (8, 885), (8, 916.5), (8, 948),
)
# TS 38.214 Table 5.2.2.1-2 (CQI table 1, 64QAM), CQI 1..15 (CQI 0 is "out of range").
# TS 36.213 Table 7.2.3-1 (LTE's 4-bit CQI table) holds the same 15 entries.
_CQI_QAM64 = (
    (2, 78), (2, 120), (2, 193), (2, 308), (2, 449), (2, 602),
    (4, 378), (4, 490), (4, 616),
    (6, 466), (6, 567), (6, 666), (6, 772), (6, 873), (6, 948),
)
# TS 38.214 Table 5.2.2.1-3 (CQI table 2, 256QAM), CQI 1..15.
_CQI_QAM256 = (
    (2, 78), (2, 193), (2, 449),
    (4, 378), (4, 490), (4, 616),
    (6, 466), (6, 567), (6, 666), (6, 772), (6, 873),
    (8, 711), (8, 797), (8, 885), (8, 948),
)
# TS 36.213 Table 8.6.1-1 (PUSCH), I_MCS 0..28 -> (Qm, I_TBS); 29..31 are redundancy versions only.
_LTE_PUSCH_MCS = tuple(
    [(2, i) for i in range(0, 11)] + [(4, i) for i in range(10, 20)] + [(6, i) for i in range(19, 27)]
)
# TS 36.213 Table 7.1.7.1-1 (PDSCH), I_MCS 0..28 -> (Qm, I_TBS).
_LTE_PDSCH_MCS = tuple(
    [(2, i) for i in range(0, 10)] + [(4, i) for i in range(9, 16)] + [(6, i) for i in range(15, 27)]
)
# TS 38.214 Table 5.1.3.2-1: the TBS for N_info <= 3824.
NR_SMALL_TBS_BITS = np.array([
    24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 136, 144, 152, 160, 168, 176,
    184, 192, 208, 224, 240, 256, 272, 288, 304, 320, 336, 352, 368, 384, 408, 432, 456, 480,
    504, 528, 552, 576, 608, 640, 672, 704, 736, 768, 808, 848, 888, 928, 984, 1032, 1064,
    1128, 1160, 1192, 1224, 1256, 1288, 1320, 1352, 1416, 1480, 1544, 1608, 1672, 1736, 1800,
    1864, 1928, 2024, 2088, 2152, 2216, 2280, 2408, 2472, 2536, 2600, 2664, 2728, 2792, 2856,
    2976, 3104, 3240, 3368, 3496, 3624, 3752, 3824,
], dtype=np.int64)

NR_MCS_TABLES: tuple[str, ...] = ("qam64", "qam256")
LTE_MCS_TABLES: tuple[str, ...] = ("pusch", "pdsch")
NR_MAX_PRB = 275  # TS 38.211 §4.4.2: at most 275 resource blocks in a carrier
LTE_MAX_PRB = 110  # TS 36.213 Table 7.1.7.2.1-1 has columns N_PRB = 1..110
_LTE_TBS_CSV = Path(__file__).parent / "data" / "lte_tbs.csv"


class McsTable:
    """One MCS (or CQI) table as arrays over its indices: ``qm`` (bits per symbol), ``rate_x1024``
    (the spec's target code rate x 1024; NaN for LTE, whose rate follows from the TBS table),
    ``itbs`` (LTE's TBS index; -1 for NR) and ``spectral_efficiency`` (Qm·R, bit per RE)."""

    def __init__(self, name: str, qm: ArrayLike, rate_x1024: ArrayLike, itbs: ArrayLike | None = None) -> None:
        self.name = name
        self.qm = np.asarray(qm, dtype=np.int64)
        self.rate_x1024 = np.asarray(rate_x1024, dtype=float)
        self.itbs = np.full(self.qm.shape, -1, np.int64) if itbs is None else np.asarray(itbs, dtype=np.int64)
        self.spectral_efficiency = self.qm * self.rate_x1024 / 1024.0
        for array in (self.qm, self.rate_x1024, self.itbs, self.spectral_efficiency):
            array.flags.writeable = False

    @property
    def code_rate(self) -> np.ndarray:
        return self.rate_x1024 / 1024.0

    def __len__(self) -> int:
        return int(self.qm.size)

    def __repr__(self) -> str:
        return f"McsTable({self.name!r}, {len(self)} entries)"


def _table(name: str, rows: tuple) -> McsTable:
    qm, rate = zip(*rows)
    return McsTable(name, qm, rate)


def _lte_table(name: str, rows: tuple) -> McsTable:
    qm, itbs = zip(*rows)
    return McsTable(name, qm, np.full(len(qm), np.nan), itbs)


NR_MCS = {"qam64": _table("nr_mcs_qam64", _NR_MCS_QAM64), "qam256": _table("nr_mcs_qam256", _NR_MCS_QAM256)}
NR_CQI = {"qam64": _table("nr_cqi_qam64", _CQI_QAM64), "qam256": _table("nr_cqi_qam256", _CQI_QAM256)}
LTE_CQI = _table("lte_cqi", _CQI_QAM64)
LTE_MCS = {"pusch": _lte_table("lte_mcs_pusch", _LTE_PUSCH_MCS), "pdsch": _lte_table("lte_mcs_pdsch", _LTE_PDSCH_MCS)}


@cache
def lte_tbs_table() -> np.ndarray:
    """TS 36.213 Table 7.1.7.2.1-1 as a read-only (27, 110) int array: [I_TBS, N_PRB - 1] -> bits."""
    table = np.loadtxt(_LTE_TBS_CSV, delimiter=",", dtype=np.int64, comments="#")
    if table.shape != (27, LTE_MAX_PRB):
        raise RuntimeError(f"{_LTE_TBS_CSV} holds a {table.shape} table, not (27, {LTE_MAX_PRB})")
    table.flags.writeable = False
    return table


def lte_tbs_bits(itbs: ArrayLike, n_prb: ArrayLike) -> np.ndarray:
    """LTE transport block size in bits (TS 36.213 Table 7.1.7.2.1-1); 0 where n_prb is 0."""
    i = np.asarray(itbs, dtype=np.int64)
    n = np.asarray(n_prb, dtype=np.int64)
    if np.any((i < 0) | (i > 26)):
        raise ConfigError("itbs", itbs, "integers in [0, 26]")
    if np.any((n < 0) | (n > LTE_MAX_PRB)):
        raise ConfigError("n_prb", n_prb, f"integers in [0, {LTE_MAX_PRB}] (LTE: one TB on at most 110 PRB)")
    i, n = np.broadcast_arrays(i, n)
    return np.where(n > 0, lte_tbs_table()[i, np.maximum(n, 1) - 1], 0)


def nr_tbs_bits(
    qm: ArrayLike,
    rate_x1024: ArrayLike,
    n_prb: ArrayLike,
    re_per_prb: ArrayLike,
    layers: int = 1,
) -> np.ndarray:
    """NR transport block size in bits by TS 38.214 §5.1.3.2 (vectorized; 0 where n_prb is 0).

    ``re_per_prb`` is N'_RE = 12·N_symb^sh - N_DMRS^PRB - N_oh^PRB, the data resource elements of
    one PRB in the slot. Steps: N_RE = min(156, N'_RE)·n_PRB; N_info = N_RE·R·Qm·v; then
    - N_info <= 3824: n = max(3, floor(log2 N_info) - 6), N'_info = max(24, 2^n·floor(N_info/2^n)),
      TBS = the smallest entry of Table 5.1.3.2-1 not below N'_info;
    - else n = floor(log2(N_info - 24)) - 5, N'_info = max(3840, 2^n·round((N_info - 24)/2^n)) and
      with C code blocks TBS = 8·C·ceil((N'_info + 24)/(8·C)) - 24, where C = ceil((N'_info + 24)/3816)
      if R <= 1/4, C = ceil((N'_info + 24)/8424) if N'_info > 8424, else C = 1.
    """
    qm_a, r_a, n_a, re_a = np.broadcast_arrays(
        np.asarray(qm, dtype=float), np.asarray(rate_x1024, dtype=float) / 1024.0,
        np.asarray(n_prb, dtype=float), np.asarray(re_per_prb, dtype=float),
    )
    n_re = np.minimum(156.0, re_a) * n_a
    n_info = n_re * r_a * qm_a * layers
    small = n_info <= 3824.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # small N_info: quantize, then look the TBS up
        n_s = np.maximum(3.0, np.floor(np.log2(np.where(small, n_info, 24.0))) - 6.0)
        q_s = np.maximum(24.0, 2.0**n_s * np.floor(n_info / 2.0**n_s))
        idx = np.minimum(np.searchsorted(NR_SMALL_TBS_BITS, q_s, side="left"), NR_SMALL_TBS_BITS.size - 1)
        tbs_small = NR_SMALL_TBS_BITS[idx]
        # large N_info: quantize (round half up, as the spec's round()), then segment into C blocks
        big = np.where(small, 3848.0, n_info)
        n_l = np.floor(np.log2(big - 24.0)) - 5.0
        q_l = np.maximum(3840.0, 2.0**n_l * np.floor((big - 24.0) / 2.0**n_l + 0.5))
        c = np.where(r_a <= 0.25, np.ceil((q_l + 24.0) / 3816.0), np.where(q_l > 8424.0, np.ceil((q_l + 24.0) / 8424.0), 1.0))
        tbs_large = 8.0 * c * np.ceil((q_l + 24.0) / (8.0 * c)) - 24.0
    tbs = np.where(small, tbs_small, tbs_large)
    return np.where(n_info > 0, tbs, 0).astype(np.int64)


def nr_mcs_table(name: str) -> McsTable:
    if name not in NR_MCS:
        raise ConfigError("radio.mcs_table", name, f"one of {', '.join(NR_MCS_TABLES)} for rate_model=nr")
    return NR_MCS[name]


def lte_mcs_table(name: str) -> McsTable:
    if name not in LTE_MCS:
        raise ConfigError("radio.mcs_table", name, f"one of {', '.join(LTE_MCS_TABLES)} for rate_model=lte")
    return LTE_MCS[name]
