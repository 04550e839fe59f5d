"""Override keys are checked before Hydra composes: ours against the schema, Hydra's left to it."""

import pytest

from fedsim._compose import check_group_choices
from fedsim.errors import ConfigError


@pytest.mark.parametrize(
    "override",
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.run.dir=/tmp/x", "hydra/sweeper=basic", "radio.tx_power_w=1"],
)
def test_hydra_keys_and_known_keys_pass(override):
    check_group_choices([override])


@pytest.mark.parametrize("override", ["hydrax.run.dir=1", "radio.tx_powr_w=1", "launcher=joblib"])
def test_unknown_keys_are_refused(override):
    with pytest.raises(ConfigError, match="not a known key"):
        check_group_choices([override])
