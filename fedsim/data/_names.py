"""The vocabulary of fedsim.data (no sklearn, no file access: the config validates against it)."""

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "femnist", "shakespeare", "npz", "hf")
# iid is fedsim's own; the others are flwr-datasets' partitioners of these names.
PARTITION_KINDS = ("iid", "dirichlet", "shards", "pathological", "natural_id", "linear", "square", "exponential")
# (input shape (C, H, W), classes) of each dataset: what a model is built for without loading it.
DATASET_SHAPES = {
    "digits": ((1, 8, 8), 10),
    "mnist": ((1, 28, 28), 10),
    "fashion_mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "femnist": ((1, 28, 28), 62),
}
