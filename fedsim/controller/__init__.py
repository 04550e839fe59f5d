"""Controllers pick the operating point (n, m, I, K) from the analytic models of ``fedsim.theory``."""

from ._files import PARETO_COLUMNS, write_study
from ._study import CHOICES, VARIABLES, OperatingPointStudy, analytic_world, disagreement_explanation, qfl_model, study, with_epsilon

__all__ = [
    "CHOICES",
    "PARETO_COLUMNS",
    "VARIABLES",
    "OperatingPointStudy",
    "analytic_world",
    "qfl_model",
    "study",
    "with_epsilon",
    "write_study",
    "disagreement_explanation",
]
