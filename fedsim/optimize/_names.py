"""The vocabulary of fedsim.optimize (pymoo-free, so the config can validate against it)."""

DISAGREEMENT_KINDS = ("paper", "pseudo_nadir", "baseline", "budgets")
