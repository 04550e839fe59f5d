"""Operating points from the analytic model: the Pareto front of (energy, rounds) and its picks.

The analytic model is built from the run's own World (its energy model, workload and uplink
Monte Carlo), so the optimizer and the simulator price a round the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..config import RunConfig
from ..workload import Workload
from ..world import World
from ..optimize import (
    GreenQflProblem,
    ParetoResult,
    anchor,
    disagreement_point,
    exhaustive_front,
    integer_nbi,
    nash_bargaining,
    sum_rule,
)
from ..theory import QflModel

VARIABLES = ("I", "K", "m", "n")
CHOICES = ("nbs", "sum", "e_min", "t_min")


@dataclass
class OperatingPointStudy:
    model: QflModel
    problem: GreenQflProblem
    front: ParetoResult  # integer NBI
    exhaustive: ParetoResult | None
    disagreement: np.ndarray
    choices: dict[str, dict[str, float]]

    def front_rows(self) -> list[dict[str, float]]:
        order = np.argsort(self.front.F[:, 0])
        return [_row(self.front.X[i], self.front.F[i]) for i in order]


def _row(x: np.ndarray, f: np.ndarray) -> dict[str, float]:
    row = {name: int(round(v)) for name, v in zip(VARIABLES, x)}
    row.update(energy_j=float(f[0]), rounds=float(f[1]))
    return row


def analytic_world(config: RunConfig) -> tuple[World, int]:
    """The run's World for the analytic model and the values uploaded per round (d).

    With the paper's workload in ``devices.energy`` nothing is built. Otherwise the task measures
    its model: a classifier builds its (untrained) network, never its dataset; an LM task needs its
    compressed base, whose adapters are what is uploaded."""
    energy = config.devices.energy
    if energy.given_workload:
        workload = Workload(params=energy.params, macs=energy.macs, activations=energy.activations, input_size=energy.input_size)
        return World(config.world_config, workload, config.seed), workload.params
    from ..tasks import build_task  # measuring a model needs torch

    task = build_task(config)
    return World(config.world_config, task.workload_parts, config.seed), task.upload_params


def qfl_model(config: RunConfig, world: World | None = None, upload_params: int | None = None) -> QflModel:
    """The analytic Green-QFL model of a run configuration, priced by its own World (built from
    the configuration unless given, e.g. the World of a running federation, with the values its
    devices upload per round)."""
    theory = config.theory
    n = config.world.num_devices
    sigma = theory.device_sigma(n)
    if world is None:
        world, upload_params = analytic_world(config)
    return QflModel.from_world(
        world,
        sigma,
        constants=theory.constants,
        drops=theory.uplink_drops,
        seed=theory.uplink_seed,
        redraw_positions=theory.redraw_positions,
        devices_per_round=config.op.devices_per_round,
        upload_params=upload_params,
    )


def with_epsilon(model: QflModel, epsilon: float) -> QflModel:
    """The same model with another target optimality gap (the uplink Monte Carlo is reused)."""
    return QflModel(
        model.sigma,
        model.uplink_energy_per_bit_j,
        constants=replace(model.constants, epsilon=float(epsilon)),
        workload=model.workload,
        energy=model.energy,
        upload_params=model.upload_params,
    )


def study(config: RunConfig, model: QflModel | None = None, *, epsilon: float | None = None) -> OperatingPointStudy:
    """Front, exhaustive cross-check and the NBS / SUM / E_min / T_min picks."""
    model = model or qfl_model(config)
    if epsilon is not None:
        model = with_epsilon(model, epsilon)
    opt = config.optimizer
    problem = GreenQflProblem(
        model, max_local_iters=opt.max_local_iters, max_devices=config.world.num_devices, max_bits=opt.max_bits
    )
    front = integer_nbi(problem, opt.n_points, seed=opt.seed)
    exhaustive = exhaustive_front(problem) if opt.exhaustive else None
    d = _disagreement(config, problem, front)
    picks = {
        "nbs": nash_bargaining(front.F, d),
        "sum": sum_rule(front.F),
        "e_min": anchor(front.F, 0),
        "t_min": anchor(front.F, 1),
    }
    choices = {name: _row(front.X[i], front.F[i]) for name, i in picks.items()}
    return OperatingPointStudy(model, problem, front, exhaustive, d, choices)


def _disagreement(config: RunConfig, problem: GreenQflProblem, front: ParetoResult) -> np.ndarray:
    kind = config.optimizer.disagreement
    if kind == "paper":
        return problem.paper_disagreement()
    if kind == "pseudo_nadir":
        return disagreement_point("pseudo_nadir", front=front)
    if kind == "budgets":
        return disagreement_point("budgets", budgets=config.optimizer.budgets)
    # baseline: full precision at the configured I and K
    op = config.op
    x = problem.full_precision(np.array([op.local_iters, op.devices_per_round, 32, 32], dtype=float))
    return disagreement_point("baseline", problem=problem, x=x[0])
