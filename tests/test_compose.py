"""Composition: override keys are checked before Hydra composes (ours against the schema, Hydra's
left to it), and a sweep is validated whole before its first job."""

import pytest

from fedsim._compose import _compose_each, check_group_choices, check_sweep, compose, sweep_jobs
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


def test_a_sweep_expands_as_hydra_does():
    jobs = sweep_jobs(["op.train_bits=4,8", "seed=range(0,3)", "rounds=2", "hydra.sweep.dir=/tmp/x"])
    assert jobs[0] == ["op.train_bits=4", "seed=0", "rounds=2"] and len(jobs) == 6
    assert jobs[-1] == ["op.train_bits=8", "seed=2", "rounds=2"]


@pytest.mark.parametrize(
    "job",
    [
        ["model.hidden=[8,4]", "seed=3", "scenario=kim2023_green_qfl", "op.train_bits=4"],
        ["radio=urban_macro", "radio.tx_power_w=0.5", "access=ofdma", "access.resource_blocks=12", "train.optimizer=adamw"],
        ["mobility=drone_routes", "handover.rule=a3", "dataset.path=null"],
    ],
)
def test_shared_composition_gives_hydras_config(job):
    # Sweep jobs share the composition of their group choices; the values must land as Hydra's own
    # composition of the whole job puts them.
    (shared,) = _compose_each([job])
    assert shared.to_dict() == compose(job).to_dict()


def test_a_sweep_is_checked_whole_before_any_job_runs():
    assert check_sweep(["rounds=1", "seed=range(0,20)"]) == 20
    with pytest.raises(ConfigError, match="op.train_bits=0 is not allowed"):
        check_sweep(["rounds=1", "seed=range(0,20)", "op.train_bits=8,0"])


def test_a_run_reads_only_the_scenarios_it_chose_and_those_they_build_on():
    """Scenario files are registered on demand (reading all of them costs start-up); a scenario
    whose defaults name another (kim2022_tradeoff on kim2023_green_qfl) brings that one along.
    A fresh process: the ConfigStore is per process."""
    import subprocess
    import sys

    probe = (
        "import fedsim\n"
        "from hydra.core.config_store import ConfigStore\n"
        "config = fedsim.compose(['scenario=kim2022_tradeoff'])\n"
        "print(config.model.name, config.dataset.name, sorted(ConfigStore.instance().repo['scenario']))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["qcnn5", "mnist"]
    assert "".join(out[2:]) == "['kim2022_tradeoff.yaml','kim2023_green_qfl.yaml']"
