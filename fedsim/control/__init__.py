"""The control plane: per-round policies that decide who transmits, at what power, on which
channel and at which operating point.

Each round the strategy gives the policy an ``Observation`` built by the World and applies the
``RoundDecision`` it returns. Built-in policies (``policy=NAME``): ``fixed`` (the default, the
run's operating point), ``random``, ``round_robin``, ``best_channel`` and ``optimized`` (the point
``fedsim optimize`` picks). Your own policy is a subclass of :class:`Policy` in any module:
``policy=custom policy.target=MODULE:CLASS`` (and ``policy.kwargs={...}`` for its constructor);
it decides from an :class:`Observation` and returns a :class:`RoundDecision`, as the built-ins do.

Handover rules pick a cellular-connected drone's serving cell along its route (``handover=NAME``):
``strongest``, ``a3`` (3GPP event A3), ``q_learning`` (tabular, per route) and ``dqn`` (torch,
in ``fedsim.rl``), over the decision process ``HandoverMDP``.
"""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "AUTO_CHANNEL": "._decision",
    "CSI_KINDS": "._config",
    "A3Event": "._handover_rules",
    "HANDOVER_RULES": "._handover_rules",
    "HANDOVER_RULE_NAMES": "._handover_config",
    "HandoverConfig": "._handover_config",
    "HandoverMDP": "._handover_mdp",
    "HandoverRule": "._handover_rules",
    "QLearningHandover": "._handover_rules",
    "StrongestCell": "._handover_rules",
    "assign_handover": "._handover_rules",
    "build_handover_rule": "._handover_rules",
    "greedy_serving": "._q_learning",
    "train_q_table": "._q_learning",
    "OperatingPoint": "._operating_point",
    "Observation": "fedsim.world:Observation",  # what a policy decides from (built by the World)
    "RoundOutcome": "fedsim.world:RoundOutcome",  # Observation.previous: last round's outcome
    "POLICIES": "._registry",
    "POLICY_NAMES": "._registry",
    "Policy": "._policy",
    "PolicyConfig": "._config",
    "RoundDecision": "._decision",
    "build_policy": "._build",
    "sample_devices": "._policy",
    "sample_uniform": "._policy",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
