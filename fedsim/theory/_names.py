"""The Nash bargaining problem's disagreement-point kinds (``optimizer.disagreement``).

A names-only module under the analytic model, so the config validates the key and the optimizer
dispatches on it without either importing the other (the ``paper`` point is the model's own,
``GreenQflProblem.paper_disagreement``).
"""

DISAGREEMENT_KINDS = ("paper", "pseudo_nadir", "baseline", "budgets")
