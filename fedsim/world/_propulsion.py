"""Rotary-wing UAV propulsion power and energy (Zeng, Xu, Zhang, "Energy Minimization for Wireless
Communication With Rotary-Wing UAV", IEEE TWC 2019, eq. (12)):

  P(V) = P0·(1 + 3V²/U_tip²) + P_i·(sqrt(1 + V⁴/(4v0⁴)) - V²/(2v0²))^½ + ½·d0·ρ·s·A·V³

P0 = (δ/8)·ρ·s·A·Ω³·R³ (blade profile), P_i = (1 + k)·W^{3/2}/sqrt(2ρA) (induced, hover),
v0 = sqrt(W/(2ρA)) (mean rotor induced velocity in hover), U_tip = Ω·R. V is the airspeed.
With the paper's constants: P0 ≈ 79.86 W, P_i ≈ 88.63 W, hover 168.5 W, v0 ≈ 4.03 m/s; minimum
power ≈ 126 W near 10.2 m/s (max endurance); minimum energy per metre near 18.3 m/s (max range).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_float
from fedsim.errors import ConfigError

_G_M_S2 = 9.80665


@dataclass(frozen=True)
class RotaryWing:
    """Aircraft and rotor constants (defaults: Zeng-Xu-Zhang 2019, Table I)."""

    weight_n: float = 20.0  # W, aircraft weight
    air_density_kg_m3: float = 1.225  # ρ
    rotor_radius_m: float = 0.4  # R
    rotor_disc_area_m2: float = 0.503  # A
    blade_angular_velocity_rad_s: float = 300.0  # Ω
    rotor_solidity: float = 0.05  # s
    fuselage_drag_ratio: float = 0.6  # d0
    induced_power_correction: float = 0.1  # k
    profile_drag_coefficient: float = 0.012  # δ

    def __post_init__(self) -> None:
        for name in (
            "weight_n",
            "air_density_kg_m3",
            "rotor_radius_m",
            "rotor_disc_area_m2",
            "blade_angular_velocity_rad_s",
            "rotor_solidity",
            "profile_drag_coefficient",
        ):
            check_float(f"uav.{name}", getattr(self, name), low=0, low_open=True)
        check_float("uav.fuselage_drag_ratio", self.fuselage_drag_ratio, low=0)
        check_float("uav.induced_power_correction", self.induced_power_correction, low=0)

    @property
    def tip_speed_mps(self) -> float:
        """U_tip = Ω·R."""
        return self.blade_angular_velocity_rad_s * self.rotor_radius_m

    @property
    def blade_profile_power_w(self) -> float:
        """P0 = (δ/8)·ρ·s·A·Ω³·R³."""
        return (
            self.profile_drag_coefficient / 8.0
            * self.air_density_kg_m3
            * self.rotor_solidity
            * self.rotor_disc_area_m2
            * self.tip_speed_mps**3
        )

    @property
    def induced_power_w(self) -> float:
        """P_i = (1 + k)·W^{3/2}/sqrt(2ρA)."""
        return (1.0 + self.induced_power_correction) * self.weight_n**1.5 / math.sqrt(
            2.0 * self.air_density_kg_m3 * self.rotor_disc_area_m2
        )

    @property
    def induced_velocity_mps(self) -> float:
        """v0 = sqrt(W/(2ρA))."""
        return math.sqrt(self.weight_n / (2.0 * self.air_density_kg_m3 * self.rotor_disc_area_m2))

    @property
    def hover_power_w(self) -> float:
        """P(0) = P0 + P_i."""
        return self.blade_profile_power_w + self.induced_power_w

    @property
    def mass_kg(self) -> float:
        return self.weight_n / _G_M_S2


def propulsion_power_w(airspeed_mps: ArrayLike, uav: RotaryWing | None = None) -> np.ndarray:
    """P(V) in watts for level flight at airspeed V (m/s), vectorized."""
    uav = RotaryWing() if uav is None else uav
    v = np.abs(np.asarray(airspeed_mps, dtype=float))
    v0 = uav.induced_velocity_mps
    ratio2 = v * v / (v0 * v0)
    blade = uav.blade_profile_power_w * (1.0 + 3.0 * v * v / uav.tip_speed_mps**2)
    # sqrt(1 + x²/4) - x/2 with x = V²/v0², written as 1/(sqrt(1 + x²/4) + x/2) to avoid cancellation.
    induced = uav.induced_power_w * np.sqrt(1.0 / (np.sqrt(1.0 + ratio2 * ratio2 / 4.0) + ratio2 / 2.0))
    drag = uav.fuselage_drag_ratio * uav.air_density_kg_m3 * uav.rotor_solidity * uav.rotor_disc_area_m2
    parasite = 0.5 * drag * v**3
    return blade + induced + parasite


def energy_per_meter_j(airspeed_mps: ArrayLike, uav: RotaryWing | None = None) -> np.ndarray:
    """P(V)/V in J/m (infinite in hover)."""
    v = np.asarray(airspeed_mps, dtype=float)
    with np.errstate(divide="ignore"):
        return propulsion_power_w(v, uav) / np.abs(v)


def max_endurance_speed_mps(uav: RotaryWing | None = None) -> float:
    """Airspeed minimizing P(V) (longest hover-equivalent flight time)."""
    from scipy.optimize import minimize_scalar  # scipy imported where used: it costs start-up to runs that never call this

    res = minimize_scalar(lambda v: float(propulsion_power_w(v, uav)), bounds=(0.0, 60.0), method="bounded",
                          options={"xatol": 1e-6})
    return float(res.x)


def max_range_speed_mps(uav: RotaryWing | None = None) -> float:
    """Airspeed minimizing the energy per metre P(V)/V."""
    from scipy.optimize import minimize_scalar  # scipy imported where used: it costs start-up to runs that never call this

    res = minimize_scalar(lambda v: float(energy_per_meter_j(v, uav)), bounds=(0.1, 60.0), method="bounded",
                          options={"xatol": 1e-6})
    return float(res.x)


def trajectory_energy_j(
    positions_m: ArrayLike,
    times_s: ArrayLike,
    uav: RotaryWing | None = None,
    *,
    wind_mps: ArrayLike | None = None,
    include_kinetic: bool = False,
) -> np.ndarray:
    """Propulsion energy over a sampled trajectory, one value per UAV.

    ``positions_m`` is (T, dim) or (T, N, dim) with T >= 2 samples at increasing ``times_s`` (T,).
    Each segment is flown in a straight line at constant ground velocity Δx/Δt, at airspeed
    |Δx/Δt - wind|, costing P(airspeed)·Δt. ``include_kinetic`` adds ½·m·(|v_end|² - |v_start|²)
    of the first and last segment velocities (Zeng et al.'s acceleration term for a smooth path).
    """
    pos = np.asarray(positions_m, dtype=float)
    t = np.asarray(times_s, dtype=float).reshape(-1)
    if pos.ndim not in (2, 3) or pos.shape[0] != t.size or t.size < 2:
        raise ConfigError("uav.trajectory", f"positions {pos.shape}, times {t.shape}",
                          "positions (T, dim) or (T, N, dim) with T >= 2 matching times (T,)")
    dt = np.diff(t)
    if np.any(dt <= 0) or not np.all(np.isfinite(t)):
        raise ConfigError("uav.times_s", "non-increasing times", "strictly increasing finite times")
    shape = (-1,) + (1,) * (pos.ndim - 1)
    velocity = np.diff(pos, axis=0) / dt.reshape(shape)
    air = velocity if wind_mps is None else velocity - np.asarray(wind_mps, dtype=float)
    airspeed = np.linalg.norm(air, axis=-1)
    seconds = dt.reshape((-1,) + (1,) * (airspeed.ndim - 1))
    energy = np.sum(propulsion_power_w(airspeed, uav) * seconds, axis=0)
    if include_kinetic:
        uav = RotaryWing() if uav is None else uav
        v_start = np.sum(velocity[0] ** 2, axis=-1)
        v_end = np.sum(velocity[-1] ** 2, axis=-1)
        energy = energy + 0.5 * uav.mass_kg * (v_end - v_start)
    return np.asarray(energy)
