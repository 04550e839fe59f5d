"""The task registry: which learning task trains each ``model.name``.

This is the vocabulary of the ``model`` key, so it lives with the configuration (which validates
against it) as "module:Class" strings; the federation imports the class when a run builds its
task. A new task is one file in ``fedsim/tasks/``, one line here and one ``conf/model/``
file.
"""

from __future__ import annotations

from fedsim_kernels.recipe import LANGUAGE_MODELS

from ..qnn._names import MODELS as CLASSIFIER_MODELS

# Language models whose devices learn sparsity-mask logits (LEAP / PATCH) of the dense base.
MASK_MODELS = ("tinylm_masks",)
TASKS: dict[str, str] = {
    **{name: "fedsim.tasks._classifier:ClassifierTask" for name in CLASSIFIER_MODELS},
    **{name: "fedsim.tasks._lm_task:AdapterLMTask" for name in LANGUAGE_MODELS},
    **{name: "fedsim.tasks._mask_task:MaskLMTask" for name in MASK_MODELS},
}
MODEL_NAMES = tuple(TASKS)
