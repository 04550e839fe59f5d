"""The structured run configuration: typed sections, each validating its own values.

Hydra composes YAML into a plain mapping; ``RunConfig.from_mapping`` turns it into these
dataclasses, rejecting unknown keys and out-of-range values with a one-line ConfigError before
any work starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedsim_kernels.recipe import LANGUAGE_MODELS as LM_MODELS
from fedsim_kernels.recipe import RecipeError, check_recipe

from ..control._config import PolicyConfig
from ..control._handover_config import HandoverConfig
from ..control._registry import POLICIES, policy_class
from ..control._operating_point import OperatingPoint
from ..data._names import DATASETS, PARTITION_KINDS
from .._target import keyword_arguments
from ..errors import ConfigError
from ..theory._names import DISAGREEMENT_KINDS
from ..qnn._names import CUSTOM_MODEL, ROUNDING_MODES, load_target
from ._tasks import MASK_MODELS, MODEL_NAMES
from ..theory._sigma import load_sigma
from ..theory._constants import ConvergenceConstants
from .._warn import warn_once
from ._inert import inert_settings
from ._strategy import StrategyConfig
from ._tracking import TrackingConfig
from ..strategies import STRATEGY_NAMES
from ..world._availability import read_trace
from ..world import AccessConfig, AvailabilityConfig, FaultConfig, CellularConfig, UrllcConfig, DeploymentConfig, DeviceConfig, MobilityConfig, RadioConfig, WorldConfig
from .._checks import check_bool, check_choice, check_float, check_int, check_list, check_optional_str

ENGINES = ("inprocess", "cohort")  # cohort: the round's clients vmapped together (fedsim.engine.CohortGrid)
CALIBRATIONS = ("server", "federated")  # where the LM's calibration statistics come from
AGGREGATIONS = ("fedavg", "svd")  # how adapter factors are averaged
MASKS = ("leap", "patch")  # learnable masks of model=tinylm_masks: per-weight Gumbel-sigmoid | 2:4 patterns
# Local optimizers (train.optimizer); None: the task's own (SGD for classifiers, AdamW for LM adapters).
OPTIMIZERS = ("sgd", "adamw", "mkor")


# What dataset.path holds for each dataset that reads files.
_PATH_HOLDS = {
    "mnist": "a directory holding the mnist IDX files",
    "fashion_mnist": "a directory holding the fashion_mnist IDX files",
    "cifar10": "a directory holding cifar-10-batches-py",
    "femnist": "a LEAF femnist directory (train/ and test/ JSON files)",
    "shakespeare": "a LEAF shakespeare directory (train/ and test/ JSON files)",
    "npz": "an .npz file holding x_train, y_train, x_test, y_test",
    "hf": "a directory written by datasets' save_to_disk",
}
# Datasets whose files dataset.download fetches (the LEAF sets from the Hugging Face hub).
_DOWNLOADABLE = ("mnist", "fashion_mnist", "cifar10", "femnist", "shakespeare")


@dataclass
class DatasetConfig:
    name: str = "digits"  # digits is scikit-learn's bundled 8x8 set (no files); the others read dataset.path or download
    path: str | None = None  # the dataset's file or directory (contents per name); null: digits, hf_name or the download cache
    download: bool = False  # fetch missing files (IDX sets, cifar10: into path or ~/.cache/fedsim/NAME; LEAF sets, hf: the hub)
    test_fraction: float = 0.2  # test share cut where there is no official split (digits, one IDX pair, hf, LEAF from the hub)
    # dataset=hf: a hub dataset (downloaded) or dataset.path (a save_to_disk directory), its columns
    # and splits; a missing test split is cut from the train split by test_fraction.
    hf_name: str | None = None
    image_key: str = "image"  # dataset=hf: the input column (images, feature lists or token-id lists)
    label_key: str = "label"  # dataset=hf: the label column
    client_key: str | None = None  # a column naming each example's client (partition.kind=natural_id)
    train_split: str = "train"  # dataset=hf: the split trained on
    test_split: str = "test"  # dataset=hf: the split evaluated on (missing: cut from train_split by test_fraction)
    channels_last: bool = False  # npz images stored (N, H, W, C)
    max_clients: int | None = None  # femnist / shakespeare: keep the first k writers or roles

    def __post_init__(self) -> None:
        check_choice("name", self.name, DATASETS)
        check_optional_str("path", self.path, "a file or directory path, or null")
        check_bool("download", self.download)
        self.test_fraction = check_float("test_fraction", self.test_fraction, low=0, high=1, low_open=True, high_open=True)
        check_optional_str("hf_name", self.hf_name, "a Hugging Face dataset id (e.g. uoft-cs/cifar10), or null")
        for key in ("image_key", "label_key", "train_split", "test_split"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ConfigError(key, getattr(self, key), "a non-empty string")
        check_optional_str("client_key", self.client_key, "a column name, or null")
        check_bool("channels_last", self.channels_last)
        if self.max_clients is not None:
            self.max_clients = check_int("max_clients", self.max_clients, 1)
        if self.name == "hf":
            if (self.hf_name is None) == (self.path is None):
                raise ConfigError("hf_name", self.hf_name, "a hub dataset id, or null with dataset.path a save_to_disk directory (one of the two)")
        elif self.name != "digits" and self.path is None and not (self.download and self.name in _DOWNLOADABLE):
            also = " (or set download=true)" if self.name in _DOWNLOADABLE else ""
            raise ConfigError("path", None, _PATH_HOLDS[self.name] + also)


@dataclass
class PartitionConfig:
    kind: str = "iid"  # how the training set is split over the devices: iid (fedsim's) or flwr-datasets' partitioner of that name
    alpha: float = 0.5  # dirichlet: concentration α of each device's label proportions (smaller: more skewed)
    shards_per_device: int = 2  # shards: label-sorted shards each device gets
    classes_per_device: int = 2  # pathological
    min_partition_size: int = 1  # dirichlet: redraw until every device holds this many (flwr-datasets' default is 10)

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, PARTITION_KINDS)
        self.alpha = check_float("alpha", self.alpha, low=0, low_open=True)
        self.shards_per_device = check_int("shards_per_device", self.shards_per_device, 1)
        self.classes_per_device = check_int("classes_per_device", self.classes_per_device, 1)
        self.min_partition_size = check_int("min_partition_size", self.min_partition_size, 0)


@dataclass
class ModelConfig:
    name: str = "mlp"  # a quantized classifier, custom (model.target), tinylm (compressed LM, adapters) or tinylm_masks
    hidden: list[int] = field(default_factory=lambda: [128, 64])  # mlp: layer widths; char_lstm: LSTM widths
    # model=custom: MODULE:FACTORY, an nn.Module class or function (fedsim.qnn._custom), and its
    # keyword arguments (input_shape, num_classes, vocab_size are added when it names them).
    # kwargs is null when empty: Hydra will not merge new keys into an empty mapping.
    target: str | None = None
    kwargs: dict[str, Any] | None = None  # model=custom: keyword arguments of model.target (null: none)

    def __post_init__(self) -> None:
        check_choice("name", self.name, MODEL_NAMES)
        allowed = "a list of layer widths, integers >= 1 (e.g. [128, 64]; [] for none)"
        self.hidden = [check_int("hidden", h, 1, allowed=allowed) for h in check_list("hidden", self.hidden, allowed)]
        if self.name == "char_lstm" and not self.hidden:
            raise ConfigError("hidden", self.hidden, "the widths of the LSTM layers with model=char_lstm, e.g. [128, 128]")
        custom = self.name == CUSTOM_MODEL
        self.kwargs = keyword_arguments("kwargs", self.kwargs, "model.target", "{width: 64}")
        if custom:  # imported now (a missing module fails before any work, sweeps included); built by the task
            load_target("target", self.target)


@dataclass
class TrainConfig:
    batch_size: int = 32  # samples per local iteration (language models: sequences of lm.context tokens)
    lr: float = 0.1  # local learning rate of the classifiers (language models: lm.lr, masks: lm.mask_lr)
    momentum: float = 0.9  # momentum of the local SGD step (the classifiers' default optimizer; MKOR's inner SGD step)
    rounding: str = "stochastic"  # rounding of the n-bit training quantizer: nearest | stochastic (seeded per round and device)
    # sgd | adamw | mkor (MKOR preconditions every Linear and adapter pair, then the task's
    # default inner step: SGD+momentum for classifiers, AdamW for LM adapters); None: the default
    optimizer: str | None = None
    mkor_inv_freq: int = 1  # MKOR factor refresh period in local steps (a round is only ~10 steps)

    def __post_init__(self) -> None:
        self.batch_size = check_int("batch_size", self.batch_size, 1)
        self.lr = check_float("lr", self.lr, low=0, low_open=True)
        self.momentum = check_float("momentum", self.momentum, low=0, high=1, high_open=True)
        check_choice("rounding", self.rounding, ROUNDING_MODES)
        if self.optimizer is not None:
            check_choice("optimizer", self.optimizer, OPTIMIZERS)
        self.mkor_inv_freq = check_int("mkor_inv_freq", self.mkor_inv_freq, 1)


@dataclass(frozen=True)
class TheorySection(ConvergenceConstants):
    """Constants of the convergence bound plus the per-device gradient variances sigma_i.

    ``sigma_path``: a file with one sigma_i per device (Green-QFL ships 50); unset, every device
    gets ``sigma``, so the sampling probabilities p_i ∝ 1/sigma_i^2 are uniform.
    """

    sigma_path: str | None = None  # a text file of one σ_i per device (null: every device gets sigma)
    sigma: float = 3e-8  # σ_i of every device when sigma_path is null: its stochastic-gradient std in the bound
    uplink_drops: int = 10_000  # Monte-Carlo drops for the expected uplink energy per bit
    uplink_seed: int = 0  # seed of the uplink_drops Monte-Carlo drops
    redraw_positions: bool = True  # average over placements too, as the Green-QFL release does

    def __post_init__(self) -> None:
        super().__post_init__()
        check_optional_str("sigma_path", self.sigma_path, "a text file with one σ_i per device, or null")
        check_float("sigma", self.sigma, low=0, low_open=True)
        check_int("uplink_drops", self.uplink_drops, 1)
        check_int("uplink_seed", self.uplink_seed, 0)
        check_bool("redraw_positions", self.redraw_positions)

    def device_sigma(self, num_devices: int) -> np.ndarray:
        """σ_i of every device: ``sigma_path``'s values (one per device, checked) or ``sigma``."""
        if self.sigma_path is None:
            return np.full(num_devices, self.sigma)
        sigma = load_sigma(self.sigma_path)
        if sigma.size != num_devices:
            raise ConfigError("theory.sigma_path", self.sigma_path, f"a file with world.num_devices={num_devices} values, not {sigma.size}")
        return sigma

    @property
    def constants(self) -> ConvergenceConstants:
        return ConvergenceConstants(**{f.name: getattr(self, f.name) for f in dataclasses.fields(ConvergenceConstants)})


@dataclass(frozen=True)
class OptimizerSection:
    """How ``fedsim optimize`` searches (I, K, m, n) and which point it picks."""

    n_points: int = 50  # NBI subproblems
    max_local_iters: int = 30  # I's upper bound
    max_bits: int = 32  # upper bound of n and m
    exhaustive: bool = True  # also evaluate the whole integer grid (the cross-check)
    disagreement: str = "paper"  # paper | pseudo_nadir | baseline | budgets
    budgets: list[float] | None = None  # (energy_j, rounds) for disagreement=budgets
    # target optimality gaps ε of the kim2023_green_qfl report's ε sweep
    epsilons: list[float] = field(default_factory=lambda: [0.05, 0.075, 0.1, 0.15, 0.2, 0.3])
    seed: int = 0  # seeds the random starts of NBI's anchor searches

    def __post_init__(self) -> None:
        check_int("n_points", self.n_points, 2)
        check_int("max_local_iters", self.max_local_iters, 1)
        check_int("max_bits", self.max_bits, 1, 32)
        check_bool("exhaustive", self.exhaustive)
        check_choice("disagreement", self.disagreement, DISAGREEMENT_KINDS)
        if self.budgets is not None:
            allowed = "[energy_j, rounds], two numbers > 0, or null"
            budgets = check_list("budgets", self.budgets, allowed, length=2)
            object.__setattr__(self, "budgets", [check_float("budgets", b, low=0, low_open=True) for b in budgets])
        if self.disagreement == "budgets" and self.budgets is None:
            raise ConfigError("budgets", self.budgets, "[energy_j, rounds] when optimizer.disagreement=budgets")
        allowed = "a non-empty list of numbers > 0 (e.g. [0.05, 0.1])"
        epsilons = check_list("epsilons", self.epsilons, allowed)
        if not epsilons:
            raise ConfigError("epsilons", self.epsilons, allowed)
        for eps in epsilons:
            check_float("epsilons", eps, low=0, low_open=True)
        check_int("seed", self.seed, 0)


@dataclass(frozen=True)
class LMSection:
    """The compressed-LLM client path (``model=tinylm``): base model, compression, fine-tuning.

    The base is a byte-level TinyLM trained by the server on its share of the text (or loaded
    from ``checkpoint``, a local directory written by ``save_pretrained``: a TinyLM, or a Hugging
    Face causal LM whose own config and tokenizer then replace ``d_model`` … ``d_ff``), compressed
    once with ``kernels.compress_model``; devices fine-tune only the low-rank adapters on their
    own shards. With ``model=tinylm_masks`` they learn the ``mask_*`` masks of the dense base instead.
    """

    d_model: int = 64  # TinyLM width (a loaded checkpoint brings its own architecture)
    n_layers: int = 2  # TinyLM transformer blocks
    n_heads: int = 4  # TinyLM attention heads (a divisor of d_model)
    d_ff: int = 256  # TinyLM feed-forward width
    context: int = 64  # tokens per sequence (at most a checkpoint's positions)
    checkpoint: str | None = None  # a local save_pretrained directory (TinyLM or Hugging Face causal LM); null: pretrain a TinyLM
    pretrain_steps: int = 300  # the server's steps pretraining the dense TinyLM base (0: its seeded initialization)
    pretrain_lr: float = 3e-3  # learning rate of the server's pretraining
    text_path: str | None = None  # a local text file instead of the generated corpus
    corpus_chars: int = 160_000  # characters of the generated corpus (when text_path is null)
    # kernels.compress_model recipe, keys as written there
    compress: bool = True
    sparsity: str | None = "2:4"  # pruning: an N:M pattern ('2:4'), a fraction of each row, or null (none)
    pruner: str = "wanda"  # magnitude | wanda | sparsegpt: how the pruned weights are chosen
    bits: int | None = 4  # weight quantization, 4 or 8 bits; null: float32 weights
    quantizer: str = "slim"  # absmax | slim | gptq: the weight quantizer
    group_size: int = 64  # input columns sharing one quantization scale (capped at d_in; must divide it)
    lowrank: str = "slim"  # slim | naive | none (zero-initialised LoRA: no compensation)
    rank_ratio: float = 0.125  # adapter rank as a fraction of min(d_out, d_in)
    reconstruct: bool = False  # OPTIMA closed-form update of the kept weights after pruning
    calibration: str = "server"  # server | federated (clients send per-layer s_j; summed exactly)
    calibration_batches: int = 8  # calibration batches of 4 windows each (federated: count // N per device, at least 1)
    # federated fine-tuning of the adapters
    lr: float = 2e-3  # adapters' local AdamW step; the batch is train.batch_size sequences
    aggregation: str = "fedavg"  # fedavg (average the factors) | svd (average L·R, re-factorize)
    # SLoPe (kernels.slope), both with an N:M lm.sparsity: the server pretrains the base with static
    # N:M masks and the double-pruned backward (pretrain=slope), the devices' input gradients
    # through the frozen base use its double-pruned transpose and are priced at N/M (backward=double_pruned)
    pretrain: str = "dense"  # dense | slope
    backward: str = "dense"  # dense | double_pruned
    # federated mask learning (model=tinylm_masks): devices learn mask logits of the frozen dense base
    mask: str = "leap"  # leap (unstructured, Gumbel-sigmoid per weight) | patch (2:4, Gumbel-softmax per group)
    mask_density: float = 0.5  # kept fraction of every row (leap); patch keeps 2 of 4
    mask_lr: float = 0.05  # local Adam step on the logits
    mask_lambda: float = 1.0  # weight of the density regularizer (leap)
    mask_temperature: float = 0.5  # Gumbel temperature of the training samples

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "d_ff", "corpus_chars", "group_size", "calibration_batches"):
            check_int(name, getattr(self, name), 1)
        check_int("context", self.context, 8)
        check_int("pretrain_steps", self.pretrain_steps, 0)
        check_optional_str("checkpoint", self.checkpoint, "a local directory written by save_pretrained, or null")
        check_optional_str("text_path", self.text_path, "a local text file, or null")
        check_float("pretrain_lr", self.pretrain_lr, low=0, low_open=True)
        check_float("lr", self.lr, low=0, low_open=True)
        check_bool("compress", self.compress)
        check_bool("reconstruct", self.reconstruct)
        check_choice("calibration", self.calibration, CALIBRATIONS)
        check_choice("aggregation", self.aggregation, AGGREGATIONS)
        check_choice("mask", self.mask, MASKS)
        check_float("mask_density", self.mask_density, low=0, high=1, low_open=True, high_open=True)
        check_float("mask_lr", self.mask_lr, low=0, low_open=True)
        check_float("mask_lambda", self.mask_lambda, low=0)
        check_float("mask_temperature", self.mask_temperature, low=0, low_open=True)
        # The compression recipe is validated by kernels itself: what it accepts, nothing else.
        try:
            check_recipe(
                sparsity=self.sparsity, pruner=self.pruner, bits=self.bits, quantizer=self.quantizer,
                group_size=self.group_size, lowrank=self.lowrank, rank_ratio=self.rank_ratio,
                reconstruct=self.reconstruct,
            )
        except RecipeError as error:
            raise ConfigError(error.key, error.value, error.allowed) from None
        if self.d_model % self.n_heads:
            raise ConfigError("n_heads", self.n_heads, f"a divisor of d_model={self.d_model}")
        if self.calibration == "federated" and self.pruner == "sparsegpt":
            raise ConfigError("pruner", self.pruner, "magnitude or wanda with lm.calibration=federated (clients send s_j only)")
        self._check_slope()

    def _check_slope(self) -> None:
        from fedsim_kernels.recipe import BACKWARDS, PRETRAININGS

        check_choice("pretrain", self.pretrain, PRETRAININGS)
        check_choice("backward", self.backward, BACKWARDS)
        for key in ("pretrain", "backward"):
            value = getattr(self, key)
            if value != "dense" and not isinstance(self.sparsity, str):
                raise ConfigError(key, value, f"dense unless lm.sparsity is an N:M pattern such as '2:4' (it is {self.sparsity!r})")
        if self.backward != "dense" and not self.compress:
            raise ConfigError("backward", self.backward, "dense with lm.compress=false (the dense base has no N:M pattern)")
        if self.pretrain != "dense" and self.checkpoint is not None:
            raise ConfigError("pretrain", self.pretrain, "dense with lm.checkpoint (a loaded base is not pretrained here)")


@dataclass
class RunConfig:
    """Everything one federated run needs. Build with ``from_mapping``.

    ``world``, ``radio``, ``access``, ``devices`` and ``mobility`` are the World's own config
    types; ``world_config`` hands the same objects to the World.
    """

    seed: int = 0  # the run's seed: every random stream derives from it (the same seed gives the same ledger)
    rounds: int = 30  # server rounds (asynchronous strategies: aggregations)
    target_accuracy: float = 0.85  # the test accuracy summary.json's *_to_target keys are for (the run does not stop there)
    engine: str = "inprocess"  # inprocess: the round's clients train one after another | cohort: stacked together (fedsim.engine)
    # Torch intra-op threads; None: one for a small model, else the process's CPU share (cohort:
    # less the core that draws its next step; fedsim._torch_threads). summary.json records the count used.
    torch_threads: int | None = None
    eval_batch_size: int = 1024  # batch size of the classifiers' test-set evaluation
    op: OperatingPoint = field(default_factory=OperatingPoint)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    partition: PartitionConfig = field(default_factory=PartitionConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    world: DeploymentConfig = field(default_factory=DeploymentConfig)
    radio: RadioConfig = field(default_factory=RadioConfig)
    access: AccessConfig = field(default_factory=lambda: AccessConfig(scheme="orthogonal"))
    devices: DeviceConfig = field(default_factory=DeviceConfig)
    mobility: MobilityConfig = field(default_factory=MobilityConfig)
    cellular: CellularConfig = field(default_factory=CellularConfig)  # mobility=drone_routes
    handover: HandoverConfig = field(default_factory=HandoverConfig)  # mobility=drone_routes
    urllc: UrllcConfig = field(default_factory=UrllcConfig)  # the URLLC cell (fedsim reproduce kasgari2021_urllc)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)  # the algorithm (fedsim.strategies) and its keys
    availability: AvailabilityConfig = field(default_factory=AvailabilityConfig)  # the event-driven world's
    theory: TheorySection = field(default_factory=TheorySection)
    optimizer: OptimizerSection = field(default_factory=OptimizerSection)
    lm: LMSection = field(default_factory=LMSection)
    faults: FaultConfig = field(default_factory=FaultConfig)  # injected faults (all 0: none)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)  # TensorBoard / MLflow / W&B mirror of the ledger
    # Free-form notes a scenario carries (sources, the paper's expected numbers); not used by the run.
    scenario: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Values and cross-section rules; every section validated itself when it was built."""
        self.seed = check_int("seed", self.seed, 0, 2**63 - 1)
        self.rounds = check_int("rounds", self.rounds, 1)
        self.target_accuracy = check_float("target_accuracy", self.target_accuracy, low=0, high=1)
        check_choice("engine", self.engine, ENGINES)
        if self.torch_threads is not None:
            self.torch_threads = check_int("torch_threads", self.torch_threads, 1)
        self.eval_batch_size = check_int("eval_batch_size", self.eval_batch_size, 1)
        if self.access.scheme == "ofdma" and self.op.devices_per_round > self.access.resource_blocks:
            raise ConfigError(
                "access.resource_blocks",
                self.access.resource_blocks,
                f"at least op.devices_per_round={self.op.devices_per_round} (one device per resource block)",
            )
        if self.model.name in LM_MODELS + MASK_MODELS and self.op.train_bits != 32:
            raise ConfigError("op.train_bits", self.op.train_bits, "32 with model=tinylm (the adapters train in float32)")
        if self.op.devices_per_round > self.world.num_devices:
            raise ConfigError(
                "op.devices_per_round",
                self.op.devices_per_round,
                f"an integer in [1, world.num_devices={self.world.num_devices}]",
            )
        if self.mobility.kind == "drone_routes":
            self._check_drones()
        self.strategy.params.check_run(self)  # the strategy's own rules (e.g. Krum's f against K)
        if self.strategy.asynchronous:
            self._check_asynchronous()
        policy_class(self.policy.name, self.policy.target).check_run(self)  # the policy's own rules (e.g. a swarm)
        if self.theory.sigma_path is not None:  # read now: a bad file must stop the run before any work
            self.theory.device_sigma(self.world.num_devices)
        if self.policy.devices is not None and max(self.policy.devices) >= self.world.num_devices:
            raise ConfigError("policy.devices", list(self.policy.devices), f"device indices in [0, world.num_devices={self.world.num_devices})")
        if (self.policy.name == "fixed" and self.policy.devices is not None and not self.strategy.asynchronous
                and len(self.policy.devices) != self.op.devices_per_round):
            # The list is the round's devices, so it is K: a mismatch would train one count and
            # record another (an asynchronous run dispatches from the list as a pool instead).
            raise ConfigError("policy.devices", list(self.policy.devices),
                              f"a list of op.devices_per_round={self.op.devices_per_round} device indices (set op.devices_per_round="
                              f"{len(self.policy.devices)} to train these {len(self.policy.devices)})")
        if self.availability.kind == "trace":  # read now, even where it is inert: a bad file named is bad input
            read_trace(self.availability.trace_path, self.world.num_devices)
        for key, value, needs in inert_settings(self):
            warn_once(f"{key}={value!r} has no effect here: it applies to {needs}")

    def _check_asynchronous(self) -> None:
        n = self.world.num_devices
        name, concurrency = self.strategy.name, self.strategy.params.concurrency
        if concurrency is not None and concurrency > n:
            raise ConfigError("strategy.concurrency", concurrency, f"an integer in [1, world.num_devices={n}] (devices training at once)")
        if self.access.scheme != "orthogonal":
            raise ConfigError("access", self.access.scheme, f"orthogonal with strategy={name} (each device uses the full band)")
        if self.mobility.kind == "drone_routes":
            raise ConfigError("mobility", self.mobility.kind, f"static, random_waypoint or uav_swarm with strategy={name}")
        if self.model.name in LM_MODELS + MASK_MODELS:
            raise ConfigError("model", self.model.name, f"a classifier (not a language model) with strategy={name}")
        if not policy_class(self.policy.name, self.policy.target).DISPATCHES:
            dispatching = ", ".join(n for n in POLICIES if policy_class(n).DISPATCHES)
            raise ConfigError("policy", self.policy.name, f"a policy that dispatches devices with strategy={name}: one of {dispatching}, "
                                                          "or custom with a policy.target whose DISPATCHES is True")

    @property
    def trains_language_model(self) -> bool:
        """Whether the task is a language model's adapters or masks (not a classifier)."""
        return self.model.name in LM_MODELS + MASK_MODELS

    @property
    def concurrency(self) -> int:
        """Devices an asynchronous federation trains at once (strategy.concurrency, or as many
        as a synchronous round selects)."""
        return getattr(self.strategy.params, "concurrency", None) or self.op.devices_per_round

    def _check_drones(self) -> None:
        cells = self.cellular.num_cells
        if self.handover.candidates > cells:
            raise ConfigError("handover.candidates", self.handover.candidates, f"an integer in [1, {cells}] (the cells of cellular.rings={self.cellular.rings})")
        self.world_config  # the World's own cross-section rules (e.g. the drones' access scheme)

    @property
    def world_config(self) -> WorldConfig:
        """The World's configuration: this run's own sections (no copy), one iteration's batch."""
        return WorldConfig(
            deployment=self.world,
            radio=self.radio,
            access=self.access,
            devices=self.devices,
            mobility=self.mobility,
            batch_size=self.train.batch_size,
            cellular=self.cellular,
            faults=self.faults,
            availability=self.availability,
        )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> "RunConfig":
        """Build and validate from a plain mapping (for example a resolved Hydra config)."""
        return _build(cls, deprecated_federation(mapping), prefix="")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def deprecated_federation(mapping: Any) -> Any:
    """A mapping with the retired ``federation`` section (fedsim <= 0.1: ``federation.name`` and
    the asynchronous keys) folded into ``strategy``, with a one-line deprecation warning."""
    if not isinstance(mapping, Mapping) or "federation" not in mapping:
        return mapping
    old = mapping["federation"]
    out = {k: v for k, v in mapping.items() if k != "federation"}
    if not isinstance(old, Mapping):
        raise ConfigError("federation", old, "a mapping (deprecated: use strategy=NAME and strategy.KEY)")
    warn_once("the federation section is deprecated: federation.name=X is strategy=X, federation.KEY is strategy.KEY")
    strategy = dict(out.get("strategy") or {})
    name = old.get("name", strategy.get("name", "fedavg"))
    keys = {k: v for k, v in old.items() if k != "name" and v is not None}
    from ._strategy import strategy_defaults

    if name in STRATEGY_NAMES:  # keys the old section listed for every mode keep only the chosen one's
        own = strategy_defaults(name)
        keys = {k: v for k, v in keys.items() if k in own}
    out["strategy"] = {**strategy, **keys, "name": name}
    return out


def _build(cls: type, mapping: Any, prefix: str) -> Any:
    """``cls`` from a mapping, section by section; a section's error gets its key path here, from
    the field path (``radio`` + ``tx_power_w``), never from a string typed elsewhere."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(prefix or "<root>", mapping, f"a mapping of {cls.__name__} fields")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in mapping.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            raise ConfigError(dotted, value, f"not a known key; known keys here: {', '.join(fields)}")
        target = section_type(hints[key])
        if target is not None and value is None and type(None) not in typing.get_args(hints[key]):
            raise ConfigError(dotted, value, f"a mapping of {target.__name__} fields (this section cannot be null; set one as {dotted}.FIELD=VALUE)")
        kwargs[key] = _build(target, value, dotted) if target is not None and value is not None else value
    try:
        return cls(**kwargs)
    except ConfigError as error:
        raise error.under(prefix) from None
    except TypeError as error:  # a value of the wrong shape for a field (e.g. a list for a pair)
        raise ConfigError(prefix or "<root>", kwargs, f"fields of {cls.__name__} ({error})") from None


def section_type(hint: Any) -> type | None:
    """The dataclass a field's type names (``X`` or ``X | None``), or None for a plain value."""
    if dataclasses.is_dataclass(hint):
        return hint
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        for arg in typing.get_args(hint):
            if dataclasses.is_dataclass(arg):
                return arg
    return None
