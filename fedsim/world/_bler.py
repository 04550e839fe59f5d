"""Block error rate of one transport block at a given SINR: MIESM plus a finite-length code model.

Three steps, none with a fitted number:

1. The bit-channel mutual information I_Qm(γ) and its dispersion V_Qm(γ) of Gray-mapped square
   QAM with bit-interleaved coded modulation (BICM; Caire, Taricco & Biglieri, IEEE T-IT 1998),
   computed by Gauss-Hermite quadrature on a dB grid once per modulation order. 3GPP's QAM
   (TS 38.211 §5.1, TS 36.211 §7.1) is Gray-mapped per dimension, so a square 2^Qm-QAM at SNR γ is
   two 2^(Qm/2)-PAM at SNR γ each, and I is the mean over their Qm/2 bit levels.
2. MIESM, the mutual-information effective SINR mapping (Brueninghaus et al., "Link performance
   models for system level simulations of broadband radio access systems", IEEE PIMRC 2005; the
   MMIB of IEEE 802.16m-08/004r5, the 802.16m Evaluation Methodology, §4.3): resource blocks
   with SINRs γ_n act like one AWGN channel at γ_eff = I⁻¹(mean_n I(γ_n)), per modulation.
3. The AWGN block error of a code block of k information bits sent in n coded bits, by the
   normal approximation of Polyanskiy, Poor & Verdú (IEEE T-IT 2010) on the BICM bit channel:
   ε = Q((n·I(γ) - k + ½·log2 n) / sqrt(n·V(γ))). That is the best code of that length; a real
   decoder and channel estimate lose more, which ``loss_db`` subtracts from the SINR (0 dB by
   default: an assumption the caller can change, not a fitted number).

A transport block is cut into C code blocks (TS 38.212 §5.2.2 for NR's LDPC, TS 36.212 §5.1.2
for LTE's turbo code) and is lost when any is: BLER = 1 - (1 - ε)^C.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from numpy.typing import ArrayLike

MODULATION_ORDERS: tuple[int, ...] = (2, 4, 6, 8)
_GRID_DB = np.arange(-30.0, 50.0 + 1e-9, 0.1)  # the SNRs the information functions are tabulated at
_HERMITE_NODES = 48
_SATURATED = 1.0 - 1e-9  # mutual information this close to 1 bit: the inverse clamps here


def _gray_pam(bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-energy 2^bits-PAM amplitudes in increasing order and their Gray labels' bits (M, bits)."""
    m = 2**bits
    amplitude = (2.0 * np.arange(m) - m + 1.0) / math.sqrt((m * m - 1.0) / 3.0)
    gray = np.arange(m) ^ (np.arange(m) >> 1)
    labels = (gray[:, None] >> np.arange(bits)[None, :]) & 1
    return amplitude, labels


@cache
def _information_tables(qm: int) -> tuple[np.ndarray, np.ndarray]:
    """(I, V) of one Gray-QAM bit channel on _GRID_DB: the mean and the variance of the BICM
    information density i = 1 + log2(Σ_{x: b(x)=c} p(y|x) / Σ_x p(y|x)) in bits. Each coded bit
    rides one bit level, so I is the mean of the levels' means and V the mean of their variances
    (the variance of a sum of bits spread evenly over the levels)."""
    if qm not in MODULATION_ORDERS:
        raise ValueError(f"modulation order {qm} is not one of {MODULATION_ORDERS}")
    amplitude, labels = _gray_pam(qm // 2)
    t, w = np.polynomial.hermite.hermgauss(_HERMITE_NODES)
    w = w / math.sqrt(math.pi)  # E[f(Z)] = Σ w_j f(√2·t_j) for Z ~ N(0, 1)
    sigma = 10.0 ** (-_GRID_DB / 20.0)  # noise std per dimension at per-dimension SNR γ, unit energy
    levels = labels.shape[1]
    mean = np.zeros((levels, _GRID_DB.size))
    second = np.zeros((levels, _GRID_DB.size))
    # The Gray PAM is symmetric (x -> -x complements one label bit), so the non-negative half of
    # the amplitudes sees every level's density distribution; each counts twice.
    for x, bits in zip(amplitude[amplitude.size // 2 :], labels[amplitude.size // 2 :]):
        y = x + sigma[:, None] * math.sqrt(2.0) * t[None, :]  # (grid, nodes)
        log_p = -((y[..., None] - amplitude) ** 2) / (2.0 * sigma[:, None, None] ** 2)  # (grid, nodes, M)
        p = np.exp(log_p - log_p.max(axis=-1, keepdims=True))
        same = p @ (labels == bits).astype(float)  # (grid, nodes, levels): Σ p over points sharing each bit
        density = 1.0 + np.log2(same / p.sum(axis=-1, keepdims=True))
        mean += np.einsum("gjl,j->lg", density, w)
        second += np.einsum("gjl,j->lg", density**2, w)
    mean /= amplitude.size // 2
    second /= amplitude.size // 2
    info = np.clip(np.maximum.accumulate(mean.mean(axis=0)), 0.0, 1.0)
    dispersion = np.maximum((second - mean**2).mean(axis=0), 0.0)
    return info, dispersion


def _db(sinr_linear: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(sinr_linear)


def bit_information(sinr_linear: ArrayLike, qm: int) -> np.ndarray:
    """BICM mutual information per coded bit (0..1) of Gray 2^qm-QAM at linear SINR."""
    info, _ = _information_tables(qm)
    return np.interp(_db(np.asarray(sinr_linear, dtype=float)), _GRID_DB, info, left=0.0)


def bit_dispersion(sinr_linear: ArrayLike, qm: int) -> np.ndarray:
    """Variance (bit²) of the BICM information density per coded bit at linear SINR."""
    _, dispersion = _information_tables(qm)
    return np.interp(_db(np.asarray(sinr_linear, dtype=float)), _GRID_DB, dispersion, left=0.0)


@cache
def _inverse_table(qm: int) -> tuple[np.ndarray, np.ndarray]:
    info, _ = _information_tables(qm)
    keep = np.flatnonzero((info < _SATURATED) & (np.diff(info, prepend=-1.0) > 0))
    return info[keep], _GRID_DB[keep]


def effective_sinr(sinr_linear: ArrayLike, qm: int) -> np.ndarray:
    """MIESM: the AWGN SINR carrying the mean mutual information of the last axis' SINRs
    (a 1-d input is one device per entry and comes back unchanged)."""
    g = np.asarray(sinr_linear, dtype=float)
    if g.ndim < 2:
        return g
    if g.shape[-1] == 1:
        return g[..., 0]
    info_grid, db_grid = _inverse_table(qm)
    mean_info = bit_information(g, qm).mean(axis=-1)
    eff_db = np.interp(mean_info, info_grid, db_grid)
    return np.where(mean_info <= 0.0, 0.0, 10.0 ** (eff_db / 10.0))


def code_block_error_rate(
    sinr_linear: ArrayLike, qm: int, info_bits: ArrayLike, coded_bits: ArrayLike, loss_db: float = 0.0
) -> np.ndarray:
    """Block error of one code block (k = ``info_bits``, CRC included, in n = ``coded_bits``) at
    AWGN-equivalent linear SINR: Q((n·I - k + ½·log2 n)/sqrt(n·V)) at SINR·10^(-loss_db/10)."""
    from scipy.special import ndtr  # imported where used, as in _fbl: no start-up cost

    g = np.asarray(sinr_linear, dtype=float) * 10.0 ** (-loss_db / 10.0)
    k = np.asarray(info_bits, dtype=float)
    n = np.asarray(coded_bits, dtype=float)
    info, dispersion = bit_information(g, qm), bit_dispersion(g, qm)
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = n * info - k + 0.5 * np.log2(np.maximum(n, 1.0))
        z = margin / np.sqrt(n * dispersion)
    # no spread left (saturated or dead channel): the margin's sign decides
    z = np.where(dispersion * n > 0, z, np.where(margin > 0, np.inf, -np.inf))
    return np.where(n > 0, ndtr(-z), 1.0)


def nr_code_blocks(tbs_bits: ArrayLike, code_rate: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """NR LDPC segmentation (TS 38.212 §7.2.1-§7.2.2 and §5.2.2): (C code blocks, bits per block
    with CRCs). TB CRC: 24 bits if A > 3824 else 16; base graph 2 (K_cb = 3840) if A <= 292, or
    A <= 3824 and R <= 0.67, or R <= 0.25, else base graph 1 (K_cb = 8448); more than one block
    adds a 24-bit CRC to each."""
    a = np.asarray(tbs_bits, dtype=float)
    r = np.asarray(code_rate, dtype=float)
    b = a + np.where(a > 3824, 24.0, 16.0)
    bg2 = (a <= 292) | ((a <= 3824) & (r <= 0.67)) | (r <= 0.25)
    k_cb = np.where(bg2, 3840.0, 8448.0)
    c = np.where(b <= k_cb, 1.0, np.ceil(b / (k_cb - 24.0)))
    per_block = np.where(c > 1, (b + 24.0 * c) / c, b)
    return c, per_block


def lte_code_blocks(tbs_bits: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """LTE turbo segmentation (TS 36.212 §5.1.1-§5.1.2): 24-bit TB CRC, blocks of at most
    Z = 6144 bits, a 24-bit CRC per block when C > 1. Bits per block are B'/C (the spec's
    K+/K- sizes differ from it by filler bits only)."""
    a = np.asarray(tbs_bits, dtype=float)
    b = a + 24.0
    c = np.where(b <= 6144.0, 1.0, np.ceil(b / (6144.0 - 24.0)))
    per_block = np.where(c > 1, (b + 24.0 * c) / c, b)
    return c, per_block


def transport_block_error_rate(
    sinr_linear: ArrayLike,
    qm: int,
    code_blocks: ArrayLike,
    bits_per_block: ArrayLike,
    coded_bits: ArrayLike,
    loss_db: float = 0.0,
) -> np.ndarray:
    """1 - (1 - ε)^C: the TB is lost when any of its C code blocks is, each block getting
    ``coded_bits``/C of the TB's coded bits (TS 38.212 §5.4.2.1 / TS 36.212 §5.1.4 rate matching
    splits them evenly up to a modulation symbol)."""
    c = np.asarray(code_blocks, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_block_coded = np.where(c > 0, np.asarray(coded_bits, dtype=float) / c, 0.0)
    eps = code_block_error_rate(sinr_linear, qm, bits_per_block, per_block_coded, loss_db)
    with np.errstate(divide="ignore", invalid="ignore"):
        lost = -np.expm1(c * np.log1p(-eps))  # exact for tiny ε, where 1 - (1 - ε)^C would round to 0
    return np.where(c > 0, np.where(eps >= 1.0, 1.0, lost), 1.0)
