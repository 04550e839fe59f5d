"""The vocabulary of fedsim.data (no sklearn, no file access: the config validates against it)."""

DATASETS = ("digits", "mnist", "fashion_mnist")
PARTITION_KINDS = ("iid", "dirichlet", "shards")
