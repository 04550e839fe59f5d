"""World v0: the physics of a federated-learning round, in plain numpy (no Flower, no torch).

Given a RoundPlan (who trains how long at which precision and uploads how many bits), a World
returns a RoundOutcome: compute and airtime seconds and joules per device. Units are SI.
"""

from fedsim.world._compute_energy import QnnEnergyModel, Workload
from fedsim.world._placement import distances_to_bs, place_uniform_square
from fedsim.world._radio import path_gain, rayleigh_power, shannon_rate_bps, uplink_time_energy
from fedsim.world._units import db_to_linear, dbm_to_w, w_to_dbm
from fedsim.world._world import RoundOutcome, RoundPlan, World, WorldConfig

__all__ = [
    "QnnEnergyModel",
    "RoundOutcome",
    "RoundPlan",
    "Workload",
    "World",
    "WorldConfig",
    "db_to_linear",
    "dbm_to_w",
    "distances_to_bs",
    "path_gain",
    "place_uniform_square",
    "rayleigh_power",
    "shannon_rate_bps",
    "uplink_time_energy",
    "w_to_dbm",
]
