"""The LTE/NR resource grid: slot length, subcarrier spacing, PRBs per bandwidth, data REs per PRB.

A physical resource block (PRB) is 12 subcarriers (TS 38.211 §4.4.4.1, TS 36.211 §5.2.3) for one
slot of 14 OFDM/SC-FDMA symbols with the normal cyclic prefix. NR numerology μ has subcarrier
spacing 15·2^μ kHz and 1/2^μ ms slots (TS 38.211 §4.2-4.3); LTE schedules one 1 ms subframe of
14 symbols at 15 kHz (its TTI, TS 36.211 §4.1 and §5.2.1).

Defaults of the share of a PRB's resource elements that carries no data (``overhead_fraction``):
- NR PUSCH: 3 DMRS symbols of 12 REs out of 12·14 = 168, so 36/168. DMRS-UplinkConfig's
  dmrs-AdditionalPosition defaults to pos2 when absent (TS 38.331), which with PUSCH mapping
  type A over 14 symbols places single-symbol DMRS at l0, 7 and 11 (TS 38.211 Table
  6.4.1.1.3-3); DCI format 0_0 leaves 2 DMRS CDM groups without data (TS 38.214 §6.2.2), so no
  data shares those symbols; xOverhead defaults to 0 (TS 38.214 §6.1.4.2).
- LTE PUSCH: the DMRS takes the middle symbol of each slot (TS 36.211 §5.5.2.1.2), 2 of 14
  symbols, so 2/14; an SRS, when configured, takes one more (the last, TS 36.211 §5.5.3.4) and is
  not in the default.
Control channels (PUCCH) sit on PRBs of their own at the band edges and L2 headers are a few
bytes per transport block: raise the fraction to count them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_float, check_int
from fedsim.errors import ConfigError

SUBCARRIERS_PER_PRB = 12
SYMBOLS_PER_SLOT = 14  # normal cyclic prefix
RE_PER_PRB_SLOT = SUBCARRIERS_PER_PRB * SYMBOLS_PER_SLOT  # 168
NR_NUMEROLOGIES: tuple[int, ...] = (0, 1, 2, 3)  # TS 38.211 Table 4.2-1; μ = 4 (240 kHz) carries no data channel
NR_DEFAULT_OVERHEAD_FRACTION = 36.0 / RE_PER_PRB_SLOT
LTE_DEFAULT_OVERHEAD_FRACTION = 2.0 / SYMBOLS_PER_SLOT

# Transmission bandwidth configuration N_RB per channel bandwidth (MHz).
# NR FR1: TS 38.101-1 Table 5.3.2-1, by subcarrier spacing (kHz).
_NR_FR1_PRBS: dict[int, dict[float, int]] = {
    15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 35: 188, 40: 216, 45: 242, 50: 270},
    30: {5: 11, 10: 24, 15: 38, 20: 51, 25: 65, 30: 78, 35: 92, 40: 106, 45: 119, 50: 133,
         60: 162, 70: 189, 80: 217, 90: 245, 100: 273},
    60: {10: 11, 15: 18, 20: 24, 25: 31, 30: 38, 35: 44, 40: 51, 45: 58, 50: 65,
         60: 79, 70: 93, 80: 107, 90: 121, 100: 135},
}
# NR FR2 at 120 kHz (μ = 3): TS 38.101-2 Table 5.3.2-1. (60 kHz is read as FR1.)
_NR_FR2_120_PRBS: dict[float, int] = {50: 32, 100: 66, 200: 132, 400: 264}
# LTE: TS 36.101 Table 5.6-1.
_LTE_PRBS: dict[float, int] = {1.4: 6, 3: 15, 5: 25, 10: 50, 15: 75, 20: 100}


def nr_slot_s(numerology: int) -> float:
    """NR slot length 1 ms / 2^μ."""
    return 1e-3 / 2 ** check_int("radio.numerology", numerology, 0, max(NR_NUMEROLOGIES))


def nr_scs_hz(numerology: int) -> float:
    """NR subcarrier spacing 15 kHz · 2^μ."""
    return 15e3 * 2 ** check_int("radio.numerology", numerology, 0, max(NR_NUMEROLOGIES))


def data_re_per_prb(overhead_fraction: float) -> int:
    """Resource elements of one PRB in one slot that carry data: round(168·(1 - overhead))."""
    f = check_float("radio.overhead_fraction", overhead_fraction, low=0.0, high=1.0, high_open=True)
    re = int(round(RE_PER_PRB_SLOT * (1.0 - f)))
    if re < 1:
        raise ConfigError("radio.overhead_fraction", overhead_fraction, "a fraction that leaves a PRB at least one data resource element (< 0.997)")
    return re


def prb_count(bandwidth_hz: ArrayLike, rat: str, scs_hz: float = 15e3) -> np.ndarray:
    """PRBs in a bandwidth: a standard channel bandwidth has its table's N_RB (guard bands
    excluded; NR FR1 by subcarrier spacing, LTE at 15 kHz); any other bandwidth is taken as a
    share of a carrier and holds floor(B / (12·SCS)) PRBs."""
    b = np.asarray(bandwidth_hz, dtype=float)
    if not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ConfigError("radio.bandwidth_hz", bandwidth_hz, "finite numbers >= 0")
    if rat == "lte":
        table = _LTE_PRBS
        if scs_hz != 15e3:
            raise ConfigError("scs_hz", scs_hz, "15000 for LTE")
    else:
        table = {**_NR_FR1_PRBS, 120: _NR_FR2_120_PRBS}.get(int(round(scs_hz / 1e3)))
        if table is None:
            raise ConfigError("scs_hz", scs_hz, "15e3, 30e3, 60e3 (NR FR1) or 120e3 (FR2)")
    mhz = np.array(sorted(table), dtype=float)
    prbs = np.array([table[m] for m in sorted(table)], dtype=np.int64)
    hit = np.isclose(b[..., None] / 1e6, mhz, rtol=0.0, atol=1e-9)
    from_table = prbs[np.argmax(hit, axis=-1)]
    share = np.floor(b / (SUBCARRIERS_PER_PRB * scs_hz) + 1e-9).astype(np.int64)
    return np.where(hit.any(axis=-1), from_table, share)
