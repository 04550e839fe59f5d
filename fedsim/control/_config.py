"""The ``policy`` section of a run configuration: which per-round policy runs and what it sees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fedsim._checks import check_choice, check_float, check_int
from fedsim._target import keyword_arguments
from fedsim.control._registry import CUSTOM_POLICY, POLICY_NAMES
from fedsim.errors import ConfigError
from fedsim.world import CSI_KINDS  # large_scale | perfect | noisy: see World.observe
PICKS = ("nbs", "sum", "e_min", "t_min")  # rows of `fedsim optimize`'s choice.json


@dataclass(frozen=True)
class PolicyConfig:
    """Who transmits each round, at what power, on which channel, at which operating point."""

    name: str = "fixed"  # the policy (fedsim.control) that picks each round's devices, power, channel and operating point
    csi: str = "large_scale"  # the server's view of each link: large_scale (path loss, shadowing, antenna gain) | perfect | noisy
    csi_error_db: float = 0.0  # noisy: std of the log-normal gain estimation error
    csi_delay_rounds: int = 0  # stale CSI: the server sees the channel state of this many rounds ago
    devices: tuple[int, ...] | None = None  # fixed: the same devices every round (None: sampled)
    choice_path: str | None = None  # optimized: a choice.json of `fedsim optimize` (None: computed at start)
    pick: str = "nbs"  # optimized: which row of the choice
    energy_budget_j: float | None = None  # joint_power_scheduling: each UAV's energy for the run
    # custom: your fedsim.control.Policy subclass, MODULE:CLASS (installed, or a .py file in the
    # current directory), built as CLASS(config, run, **kwargs)
    target: str | None = None
    # custom: keyword arguments of that class's constructor (null when empty: Hydra will not
    # merge new keys into an empty mapping)
    kwargs: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_choice("name", self.name, POLICY_NAMES)
        check_choice("csi", self.csi, CSI_KINDS)
        check_float("csi_error_db", self.csi_error_db, low=0)
        check_int("csi_delay_rounds", self.csi_delay_rounds, 0)
        if self.devices is not None:
            if isinstance(self.devices, (str, bytes)):  # a string is not a list of its characters
                raise ConfigError("devices", self.devices, "a list of device indices >= 0, or null")
            try:
                devices = tuple(check_int("devices", d, 0) for d in self.devices)
            except TypeError:
                raise ConfigError("devices", self.devices, "a list of device indices >= 0, or null") from None
            if len(set(devices)) != len(devices) or not devices:
                raise ConfigError("devices", list(self.devices), "a non-empty list of distinct device indices")
            object.__setattr__(self, "devices", devices)  # YAML gives a list
        check_choice("pick", self.pick, PICKS)
        if self.energy_budget_j is not None:
            check_float("energy_budget_j", self.energy_budget_j, low=0, low_open=True)
        self._check_custom()

    def _check_custom(self) -> None:
        """policy.target is imported and checked whenever it is set (as a file a key names is read
        even where the key is inert: a sweep over policies must not fail in its last job)."""
        object.__setattr__(self, "kwargs", keyword_arguments("kwargs", self.kwargs, "policy.target's constructor", "{power_fraction: 0.5}"))
        if self.target is None and self.name != CUSTOM_POLICY:
            return
        from fedsim.control._custom import check_policy_kwargs, custom_policy_class

        cls = custom_policy_class(self.target, key="target")
        if self.kwargs:
            check_policy_kwargs(cls, self.kwargs, key="kwargs")
