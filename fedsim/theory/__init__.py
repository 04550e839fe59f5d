"""Analytic models behind the controller: convergence bounds and energy until convergence.

``QflModel`` is the green quantized-FL model (Kim et al., IEEE TWC 2023): rounds T(I, K, m, n) to
reach an optimality gap ε and the energy T·E_round, vectorized over numpy arrays and smooth in
relaxed (real-valued) variables so ``fedsim.optimize`` can search over them.

The UAV-swarm model (Zeng et al., ICC 2020): ``._link_outage`` (the deadline's SNR threshold,
the closed-form success probability of an upload under Rayleigh/Rician/Nakagami fading, the
energy-limited power) and ``._swarm_bound`` (the Chen-style convergence bound, its rounds to a
target and its fit to observed losses)."""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "ConvergenceConstants": "._constants",
    "QflModel": "._green_qfl",
    "load_sigma": "._sigma",
    "energy_limited_power": "._link_outage",
    "SwarmBound": "._swarm_bound",
    "fit_swarm_bound": "._swarm_bound",
    "undelivered_share": "._swarm_bound",
    "success_probability": "._link_outage",
    "success_probability_mc": "._link_outage",
    "threshold_snr": "._link_outage",
    "upload_energy_j": "._link_outage",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
