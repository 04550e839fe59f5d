"""The World: the physics of federated-learning rounds, in plain numpy on a simpy clock (no Flower,
no torch).

Given a RoundPlan (who trains how long at which precision, transmits at which power on which
channel, and uploads how many bits), a World returns a RoundOutcome: compute and airtime seconds
and joules per device, and whether each upload arrived. ``World.observe`` gives a policy what the
server can know before it decides. Units are SI.

This package exports the World, its configs and their vocabularies; the physics functions behind
them live in the private modules (``fedsim.world._pathloss``, ``._link``, ``._mobility``, ...).
"""

from fedsim.workload import Workload
from fedsim.world._antenna import ANTENNAS
from fedsim.world._async_world import ASYNC_DROP_REASONS, AsyncWorld, Job
from fedsim.world._availability import AVAILABILITY_KINDS, DWELL_KINDS, AvailabilityConfig
from fedsim.world._cellular import CELL_LAYOUTS, CellularConfig, CellularNetwork, panel_gain_db
from fedsim.world._channel import Channel
from fedsim.world._compute_energy import QnnEnergyModel
from fedsim.world._config import (
    COMPUTE_MODELS,
    MOBILITY_KINDS,
    PLACEMENTS,
    DeploymentConfig,
    DeviceConfig,
    EnergyConfig,
    MobilityConfig,
    RadioConfig,
    WorldConfig,
)
from fedsim.world._drone_route import DroneRoute, random_route
from fedsim.world._fading import FADING_KINDS
from fedsim.world._faults import CLIENT_ERROR, MESSAGE_LOSS, NONFINITE_UPDATE, DeviceFaults, FaultConfig, InjectedFaultError
from fedsim.world._handover import FlightTrace, RouteLinks, handover_flags, trace_flight, upload_time_s
from fedsim.world._link import ACCESS_SCHEMES, AccessConfig
from fedsim.world._mobility import FORMATION_SHAPES
from fedsim.world._observation import Observation
from fedsim.world._pathloss import AIR_TO_GROUND_ENVIRONMENTS, PATH_LOSS_MODELS
from fedsim.world._rate_model import RATE_MODELS, RateModel, UploadResult, make_rate_model
from fedsim.world._round import AUTO_CHANNEL, DROP_REASONS, RoundOutcome, RoundPlan
from fedsim.world._urllc import ARRIVAL_PROCESSES, UrllcCell, UrllcConfig
from fedsim.world._units import db_to_linear, dbm_to_w, w_to_dbm
from fedsim.world._uplink_energy import expected_uplink_energy_per_bit
from fedsim.world._world import CSI_KINDS, World

__all__ = [
    # the world, one round, and what the server can know
    "World",
    "WorldConfig",
    "RoundPlan",
    "RoundOutcome",
    "Observation",
    "expected_uplink_energy_per_bit",
    # the uplink's rate model (radio.rate_model): Shannon, or a 3GPP link abstraction (nr, lte)
    "RATE_MODELS",
    "RateModel",
    "UploadResult",
    "make_rate_model",
    # the event-driven world: availability, stragglers, uploads through channel changes
    "AsyncWorld",
    "AvailabilityConfig",
    "Job",
    "ASYNC_DROP_REASONS",
    "AVAILABILITY_KINDS",
    "DWELL_KINDS",
    # cellular-connected drones: the network, routes, and what handovers cost
    "CellularConfig",
    "CellularNetwork",
    "DroneRoute",
    "FlightTrace",
    "RouteLinks",
    "handover_flags",
    "panel_gain_db",
    "random_route",
    "trace_flight",
    "upload_time_s",
    # a downlink URLLC cell: queues, finite-blocklength links, exact rate -> block/power mapping
    "UrllcCell",
    "UrllcConfig",
    # its configs (the run configuration's sections) and models
    "AccessConfig",
    "DeploymentConfig",
    "DeviceConfig",
    "EnergyConfig",
    "MobilityConfig",
    "RadioConfig",
    "Channel",
    "QnnEnergyModel",
    "Workload",
    # injected faults and the drop reasons they produce
    "FaultConfig",
    "DeviceFaults",
    "InjectedFaultError",
    "CLIENT_ERROR",
    "MESSAGE_LOSS",
    "NONFINITE_UPDATE",
    # vocabularies of the config fields
    "ACCESS_SCHEMES",
    "AIR_TO_GROUND_ENVIRONMENTS",
    "ANTENNAS",
    "ARRIVAL_PROCESSES",
    "AUTO_CHANNEL",
    "CELL_LAYOUTS",
    "COMPUTE_MODELS",
    "CSI_KINDS",
    "DROP_REASONS",
    "FADING_KINDS",
    "FORMATION_SHAPES",
    "MOBILITY_KINDS",
    "PATH_LOSS_MODELS",
    "PLACEMENTS",
    # units
    "db_to_linear",
    "dbm_to_w",
    "w_to_dbm",
]
