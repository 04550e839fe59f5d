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
    disagreement_kind: str = "paper"  # optimizer.disagreement
    disagreement_design: np.ndarray | None = None  # (I, K, m, n) whose (E, T) it is (paper, baseline)

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
    d, d_design = _disagreement(config, problem, front)
    picks = {
        "nbs": nash_bargaining(front.F, d),
        "sum": sum_rule(front.F),
        "e_min": anchor(front.F, 0),
        "t_min": anchor(front.F, 1),
    }
    choices = {name: _row(front.X[i], front.F[i]) for name, i in picks.items()}
    return OperatingPointStudy(model, problem, front, exhaustive, d, choices, config.optimizer.disagreement, d_design)


def _disagreement(config: RunConfig, problem: GreenQflProblem, front: ParetoResult) -> tuple[np.ndarray, np.ndarray | None]:
    """The disagreement point d and the design (I, K, m, n) it is the (E, T) of (None: not a design's)."""
    kind = config.optimizer.disagreement
    if kind == "paper":
        return problem.paper_disagreement(), problem.paper_disagreement_x()
    if kind == "pseudo_nadir":
        return disagreement_point("pseudo_nadir", front=front), None
    if kind == "budgets":
        return disagreement_point("budgets", budgets=config.optimizer.budgets), None
    # baseline: full precision at the configured I and K
    op = config.op
    x = problem.full_precision(np.array([op.local_iters, op.devices_per_round, 32, 32], dtype=float))
    return disagreement_point("baseline", problem=problem, x=x[0]), x[0]


FAR_FROM_FRONT = 10.0  # a disagreement point beyond this many times the front's worst value is called far


def disagreement_explanation(study: OperatingPointStudy) -> dict:
    """choice.json's ``disagreement``: the point (E [J], T [rounds]), what it is, how far it lies
    beyond the front's worst energy and rounds, and what that does to the Nash bargaining pick."""
    d, kind, F = study.disagreement, study.disagreement_kind, study.front.F
    worst = F.max(axis=0)
    design = None if study.disagreement_design is None else {v: int(round(x)) for v, x in zip(VARIABLES, study.disagreement_design)}
    what = {
        "paper": "the Green-QFL release's disagreement point: (E, T) of the design I = {I} (optimizer.max_local_iters), K = {K}, "
                 "m = {m}, n = n_min = {n}, the design the release bargains against",
        "pseudo_nadir": "the worst energy and the worst rounds over the NBI anchors (the payoff table's pseudo-nadir)",
        "baseline": "(E, T) of full precision (m = n = 32) at the configured I = {I} (op.local_iters) and K = {K} (op.devices_per_round)",
        "budgets": "the configured budgets (optimizer.budgets): a joule budget and a round budget",
    }[kind].format(**(design or {}))
    ratio = d / np.where(worst > 0, worst, 1.0)
    text = (f"Nash bargaining picks the front point that maximises (d_E - E)(d_T - T) for the disagreement point "
            f"d = ({d[0]:.4g} J, {d[1]:.4g} rounds), {what} (optimizer.disagreement={kind}). "
            f"The front's worst values are {worst[0]:.4g} J and {worst[1]:.4g} rounds: d is {ratio[0]:.3g}x and {ratio[1]:.3g}x those.")
    if (ratio > FAR_FROM_FRONT).any():
        far = " and ".join(name for name, r in zip(("energy", "rounds"), ratio) if r > FAR_FROM_FRONT)
        favoured = "energy" if ratio[0] < ratio[1] else "rounds"
        text += (f" d lies far beyond the front in {far}: these large numbers are no operating point anyone would run "
                 f"(the design barely converges); they only weigh the objectives. Far from the front the bargaining "
                 f"nearly minimises E/d_E + T/d_T, each objective weighted by the inverse of d's value in it, so here it "
                 f"favours saving {favoured} (the objective where d is relatively nearer).")
    return {"energy_j": float(d[0]), "rounds": float(d[1]), "kind": kind, "design": design,
            "front_worst": {"energy_j": float(worst[0]), "rounds": float(worst[1])}, "explanation": text}
