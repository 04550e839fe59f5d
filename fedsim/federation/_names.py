"""The vocabulary of fedsim.federation (flwr-free, so the config can validate against it)."""

# Language models whose compressed base is fine-tuned through adapters (AdapterLMTask); every
# other model.name is a quantized classifier (ClassifierTask).
LM_MODELS = ("tinylm",)
