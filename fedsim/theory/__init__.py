"""Analytic models behind the controller: convergence bounds and energy until convergence.

``QflModel`` is the green quantized-FL model (Kim et al., IEEE TWC 2023): rounds T(I, K, m, n) to
reach an optimality gap ε and the energy T·E_round, vectorized over numpy arrays and smooth in
relaxed (real-valued) variables so ``fedsim.optimize`` can search over them."""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "ConvergenceConstants": "._constants",
    "QflModel": "._green_qfl",
    "load_sigma": "._green_qfl",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
