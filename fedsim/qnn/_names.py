"""The vocabulary of fedsim.qnn (torch-free, so the config can validate against it)."""

FULL_PRECISION_BITS = 32  # n = 32 means float: no quantization
ROUNDING_MODES = ("nearest", "stochastic")
MODELS = ("mlp", "cnn", "qcnn5")  # quantized classifiers of build_model
