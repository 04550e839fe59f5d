"""A terrestrial cellular network seen from the sky: sites, down-tilted sector panels, RSRP and SINR.

Layout. Three-sector sites on a hexagonal grid (``rings`` rings around a centre site, inter-site
distance ``isd_m``), sector boresights at 30°, 150° and 270° (TR 38.901 7.8 convention).

Panel. Each sector is a vertical column of ``vertical_elements`` TR 38.901 elements spaced
``element_spacing_wavelengths``·λ and phased for an electrical down-tilt. With zenith θ (90° = the
horizon) and tilt beam zenith θ_t = 90° + tilt, the array factor is
  AF(θ) = |Σ_n exp(j·2π·n·d/λ·(cos θ - cos θ_t))|² / N,
which peaks at N toward θ_t and has nulls and sidelobes above the main beam: the fragmented sky
coverage drones see. Gain(θ, φ) = A_element(θ, φ) + 10·log10 AF(θ) (dBi).

Propagation. TR 36.777 UMa-AV path loss and LoS probability for the drone height; shadowing σ per
LoS state. LoS states and shadowing are spatially consistent: each cell has two Gaussian random
fields over the layout (correlation distance ``shadowing_correlation_m``), so two flights over the
same point see the same channel and nearby points see similar ones. A point is LoS to a cell when
Φ(z) < P_LoS, z the cell's LoS field there.

RSRP per resource element (dBm) = P_tx - 10·log10(12·N_RB) + G_panel - PL - X_shadow.
SINR of a serving cell = RSRP_s / (Σ_{c≠s} RSRP_c + N_RE): every cell loaded, the usual
worst case for aerial users (TR 36.777 §5). Receiver noise per RE: -174 dBm/Hz + 10·log10(Δf) + NF.

Defaults follow handover.md (3GPP UMa, ISD 500 m, 25 m BS, 10° down-tilt, 8 elements, 46 dBm);
they are assumptions, since the papers' constants are not public.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_choice, check_float, check_int
from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream
from fedsim.world._antenna import element_gain_38901_db
from fedsim.world._pathloss import shadowing_sigma_db, uma_av_36777_db, uma_av_los_probability

CELL_LAYOUTS = ("hex",)
UPLOAD_ON_HANDOVER = ("restart", "resume")
SECTOR_AZIMUTHS_DEG = (30.0, 150.0, 270.0)
_SUBCARRIERS_PER_RB = 12
_THERMAL_NOISE_DBM_HZ = -174.0
# An exact null of the array factor would be -inf dB; real panels never reach it.
_ARRAY_FACTOR_FLOOR = 1e-6
MAX_ALTITUDE_M = 300.0  # TR 36.777's aerial models hold up to 300 m


@dataclass(frozen=True)
class CellularConfig:
    """The ``cellular`` section: the network drones fly through, and what a handover costs."""

    layout: str = "hex"  # hex: three-sector sites on a hexagonal grid
    rings: int = 1  # 1: 7 sites (21 cells); 2: 19 sites (57 cells)
    isd_m: float = 500.0  # inter-site distance
    bs_height_m: float = 25.0  # the sites' antenna height
    tx_power_dbm: float = 46.0  # each cell's transmit power, spread over its resource blocks (RSRP per resource element)
    carrier_hz: float = 2.0e9  # carrier of the TR 36.777 UMa-AV path loss
    resource_blocks: int = 50  # 10 MHz of LTE numerology
    subcarrier_hz: float = 15e3  # subcarrier spacing Δf (carrier bandwidth 12·resource_blocks·Δf; noise per RE)
    noise_figure_db: float = 9.0  # receiver noise figure (noise per RE: -174 dBm/Hz + 10·log10(Δf) + NF)
    downtilt_deg: float = 10.0  # electrical down-tilt of every sector panel
    vertical_elements: int = 8  # N: elements in each panel's vertical column
    element_spacing_wavelengths: float = 0.5  # spacing d of a panel's vertical elements
    shadowing_correlation_m: float = 50.0  # correlation distance of each cell's shadowing and LoS random fields
    map_resolution_m: float = 10.0  # grid spacing of the shadowing and LoS fields (interpolated bilinearly in between)
    handover_interruption_s: float = 0.05  # no data while the UE moves to the target cell
    rlf_sinr_db: float = -8.0  # Q_out: below this the link is out of sync
    t310_s: float = 1.0  # out of sync for longer than this: radio-link failure
    # What a handover does to an upload in flight: "restart" (the aggregator sits at the cell's
    # edge, so what reached the old cell is lost) or "resume" (the network forwards it).
    upload_on_handover: str = "restart"

    def __post_init__(self) -> None:
        check_choice("layout", self.layout, CELL_LAYOUTS)
        check_int("rings", self.rings, 0, 4)
        check_float("isd_m", self.isd_m, low=0, low_open=True)
        check_float("bs_height_m", self.bs_height_m, low=1.5, high=100.0)
        check_float("tx_power_dbm", self.tx_power_dbm, low=-30.0, high=80.0)
        check_float("carrier_hz", self.carrier_hz, low=0, low_open=True)
        check_int("resource_blocks", self.resource_blocks, 1)
        check_float("subcarrier_hz", self.subcarrier_hz, low=0, low_open=True)
        check_float("noise_figure_db", self.noise_figure_db, low=0)
        check_float("downtilt_deg", self.downtilt_deg, low=-90.0, high=90.0)
        check_int("vertical_elements", self.vertical_elements, 1, 64)
        check_float("element_spacing_wavelengths", self.element_spacing_wavelengths, low=0, low_open=True, high=2.0)
        check_float("shadowing_correlation_m", self.shadowing_correlation_m, low=0, low_open=True)
        check_float("map_resolution_m", self.map_resolution_m, low=0, low_open=True)
        check_float("handover_interruption_s", self.handover_interruption_s, low=0)
        check_float("rlf_sinr_db", self.rlf_sinr_db)
        check_float("t310_s", self.t310_s, low=0)
        check_choice("upload_on_handover", self.upload_on_handover, UPLOAD_ON_HANDOVER)

    @property
    def noise_per_re_dbm(self) -> float:
        return _THERMAL_NOISE_DBM_HZ + 10.0 * math.log10(self.subcarrier_hz) + self.noise_figure_db

    @property
    def num_cells(self) -> int:
        """Three sectors on each of the 1 + 3r(r + 1) sites of r hexagonal rings."""
        return len(SECTOR_AZIMUTHS_DEG) * (1 + 3 * self.rings * (self.rings + 1))

    @property
    def bandwidth_hz(self) -> float:
        return self.resource_blocks * _SUBCARRIERS_PER_RB * self.subcarrier_hz


def hex_sites_m(rings: int, isd_m: float) -> np.ndarray:
    """(S, 2) site positions: a centre site and ``rings`` hexagonal rings (1 + 3r(r+1) sites)."""
    axial = [(q, r) for q in range(-rings, rings + 1) for r in range(-rings, rings + 1) if abs(q + r) <= rings]
    # Sort by ring, then angle, so site 0 is the centre and the numbering is stable.
    q, r = np.array(axial, dtype=float).T
    x = isd_m * (q + r / 2.0)
    y = isd_m * (math.sqrt(3.0) / 2.0) * r
    ring = np.maximum.reduce([np.abs(q), np.abs(r), np.abs(q + r)])
    order = np.lexsort((np.round(np.arctan2(y, x), 9), ring))
    return np.column_stack([x, y])[order]


def panel_gain_db(
    zenith_deg: ArrayLike,
    azimuth_deg: ArrayLike,
    *,
    downtilt_deg: float = 10.0,
    vertical_elements: int = 8,
    element_spacing_wavelengths: float = 0.5,
) -> np.ndarray:
    """Gain (dBi) of a down-tilted vertical panel: TR 38.901 element plus the array factor of
    the module docstring, at zenith θ and azimuth φ relative to boresight (degrees)."""
    theta = np.radians(np.asarray(zenith_deg, dtype=float))
    tilt_zenith = np.radians(90.0 + downtilt_deg)
    n = np.arange(vertical_elements)
    phase = 2.0 * np.pi * element_spacing_wavelengths * (np.cos(theta) - math.cos(tilt_zenith))
    field = np.exp(1j * phase[..., None] * n).sum(axis=-1)
    array_factor = np.maximum(np.abs(field) ** 2 / vertical_elements, _ARRAY_FACTOR_FLOOR)
    return element_gain_38901_db(np.degrees(theta), azimuth_deg) + 10.0 * np.log10(array_factor)


class CellularNetwork:
    """The cells of a :class:`CellularConfig` and their spatially consistent channel, drawn once
    from ``(seed, "cell-shadowing")`` and ``(seed, "cell-los")``.

    ``rsrp_dbm(points)`` is the whole link map: (P, C) RSRP of every cell at every point, one
    vectorised evaluation over points × cells.
    """

    def __init__(self, config: CellularConfig, seed: int) -> None:
        if not isinstance(config, CellularConfig):
            raise ConfigError("cellular", config, "a CellularConfig")
        self.config = config
        self.seed = int(seed)
        sites = hex_sites_m(config.rings, config.isd_m)
        self.site_m = sites
        self.cell_site = np.repeat(np.arange(len(sites)), len(SECTOR_AZIMUTHS_DEG))
        self.cell_position_m = sites[self.cell_site]
        self.cell_azimuth_deg = np.tile(np.array(SECTOR_AZIMUTHS_DEG), len(sites))
        margin = config.isd_m / 2.0 if config.rings else config.isd_m
        low, high = sites.min(axis=0) - margin, sites.max(axis=0) + margin
        self.bounds_m = (float(low[0]), float(low[1]), float(high[0]), float(high[1]))
        res = config.map_resolution_m
        self._grid_origin_m = low
        shape = tuple(int(math.ceil((high[i] - low[i]) / res)) + 1 for i in (0, 1))
        sigma_cells = config.shadowing_correlation_m / 2.0 / res  # Gaussian kernel: ρ(d_corr) = 1/e
        self._shadow_field = self._fields(numpy_stream(self.seed, "cell-shadowing"), shape, sigma_cells)
        self._los_field = self._fields(numpy_stream(self.seed, "cell-los"), shape, sigma_cells)

    @property
    def num_cells(self) -> int:
        return int(self.cell_position_m.shape[0])

    def _fields(self, rng: np.random.Generator, shape: tuple[int, int], sigma_cells: float) -> np.ndarray:
        """(C, nx, ny) zero-mean, unit-variance Gaussian fields, one per cell (periodic edges)."""
        from scipy.ndimage import gaussian_filter  # scipy imported where used: it costs start-up to runs that never call this

        noise = rng.standard_normal((self.num_cells, *shape))
        smooth = gaussian_filter(noise, sigma=(0.0, sigma_cells, sigma_cells), mode="wrap")
        impulse = np.zeros(shape)
        impulse[shape[0] // 2, shape[1] // 2] = 1.0
        kernel = gaussian_filter(impulse, sigma=sigma_cells, mode="wrap")
        return smooth / math.sqrt(float(np.sum(kernel**2)))  # a filtered white noise's variance

    def contains(self, xy_m: ArrayLike) -> np.ndarray:
        xy = np.asarray(xy_m, dtype=float)
        x0, y0, x1, y1 = self.bounds_m
        return (xy[..., 0] >= x0) & (xy[..., 0] <= x1) & (xy[..., 1] >= y0) & (xy[..., 1] <= y1)

    def _sample(self, fields: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """(P, C) bilinear samples of each cell's field at the points."""
        from scipy.ndimage import map_coordinates  # scipy imported where used: it costs start-up to runs that never call this

        grid = (xy - self._grid_origin_m) / self.config.map_resolution_m
        coords = grid.T
        return np.stack([map_coordinates(f, coords, order=1, mode="nearest") for f in fields], axis=1)

    def rsrp_dbm(self, points_m: ArrayLike) -> np.ndarray:
        """(P, C) RSRP per resource element of every cell at (P, 3) points (x, y, altitude)."""
        pts = np.atleast_2d(np.asarray(points_m, dtype=float))
        if pts.shape[-1] != 3 or not np.all(np.isfinite(pts)):
            raise ConfigError("route.points_m", f"array of shape {pts.shape}", "(P, 3) finite points (x, y, altitude)")
        if not np.all(self.contains(pts[:, :2])):
            raise ConfigError("route", "a point outside the layout", f"points inside x, y in {self.bounds_m}")
        cfg = self.config
        delta = pts[:, None, :2] - self.cell_position_m[None, :, :]
        d2d = np.hypot(delta[..., 0], delta[..., 1])
        h_ut = np.broadcast_to(pts[:, 2:3], d2d.shape)
        rise = h_ut - cfg.bs_height_m
        zenith = np.degrees(np.arctan2(d2d, rise))  # 0° straight up, 90° the horizon
        azimuth = np.degrees(np.arctan2(delta[..., 1], delta[..., 0])) - self.cell_azimuth_deg
        gain_db = panel_gain_db(
            zenith, azimuth, downtilt_deg=cfg.downtilt_deg, vertical_elements=cfg.vertical_elements,
            element_spacing_wavelengths=cfg.element_spacing_wavelengths,
        )
        p_los = uma_av_los_probability(d2d, h_ut)
        from scipy.special import ndtr  # scipy imported where used: it costs start-up to runs that never call this

        los = ndtr(self._sample(self._los_field, pts[:, :2])) < p_los
        loss_db = uma_av_36777_db(d2d, cfg.carrier_hz, h_ut, h_bs_m=cfg.bs_height_m, los=los)
        shadow_db = shadowing_sigma_db("uma_av_36777", los, h_ut) * self._sample(self._shadow_field, pts[:, :2])
        per_re_dbm = cfg.tx_power_dbm - 10.0 * math.log10(_SUBCARRIERS_PER_RB * cfg.resource_blocks)
        return per_re_dbm + gain_db - loss_db - shadow_db

    def sinr_db(self, rsrp_dbm: ArrayLike, serving: ArrayLike) -> np.ndarray:
        """(P,) SINR of the serving cell at each point, every other cell interfering."""
        rsrp_mw = 10.0 ** (np.asarray(rsrp_dbm, dtype=float) / 10.0)
        serving = np.asarray(serving, dtype=np.int64)
        rows = np.arange(rsrp_mw.shape[0])
        signal = rsrp_mw[rows, serving]
        interference = rsrp_mw.sum(axis=1) - signal
        noise = 10.0 ** (self.config.noise_per_re_dbm / 10.0)
        return 10.0 * np.log10(signal / (interference + noise))

    def rate_bps(self, sinr_db: ArrayLike) -> np.ndarray:
        """Shannon rate over the whole carrier at the given SINR."""
        return self.config.bandwidth_hz * np.log2(1.0 + 10.0 ** (np.asarray(sinr_db, dtype=float) / 10.0))
