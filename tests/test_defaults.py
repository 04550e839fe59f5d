"""The default job: what `fedsim run` does with no arguments."""

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import fedsim
from fedsim._compose import conf_dir, register_scenarios
from fedsim.config import RunConfig


def test_hydra_defaults_equal_the_schema_defaults():
    register_scenarios()  # the policy group and the base schema live in Hydra's ConfigStore
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="config")
    composed = OmegaConf.to_container(cfg, resolve=True)
    assert RunConfig.from_mapping(composed).to_dict() == RunConfig().to_dict()


def test_default_run_reaches_the_target_accuracy_on_the_embedded_digits():
    result = fedsim.run(RunConfig())
    assert result.summary["rounds"] == 30
    assert result.final_accuracy >= 0.85
    assert result.summary["rounds_to_target"] is not None
