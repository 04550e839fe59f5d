"""Analytic models behind the controller: convergence bounds and energy until convergence.

``QflModel`` is the green quantized-FL model (Kim et al., IEEE TWC 2023): rounds T(I, K, m, n) to
reach an optimality gap ε and the energy T·E_round, vectorized over numpy arrays and smooth in
relaxed (real-valued) variables so ``fedsim.optimize`` can search over them.
"""

from fedsim.theory._constants import ConvergenceConstants
from fedsim.theory._green_qfl import QflModel, load_sigma

__all__ = ["ConvergenceConstants", "QflModel", "load_sigma"]
