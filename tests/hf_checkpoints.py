"""Tiny *random* Hugging Face causal LMs written by save_pretrained, built offline from configs.

No hub download ever: the architecture comes from a config (hidden size 64, 2 layers) and the
tokenizer is ByT5's byte-level one, which needs no vocabulary file.
"""

from __future__ import annotations

from pathlib import Path

import torch


def tiny_hf_checkpoint(path: Path, family: str = "llama", seed: int = 0) -> Path:
    """Write a random ``family`` (llama, qwen2, gpt2) model and its tokenizer into ``path``."""
    import transformers

    tokenizer = transformers.ByT5Tokenizer()
    vocab = len(tokenizer)  # 384: 256 bytes + 3 specials + 125 extra ids
    if family == "llama":
        config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    elif family == "qwen2":
        config = transformers.Qwen2Config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    elif family == "gpt2":
        config = transformers.GPT2Config(vocab_size=vocab, n_embd=64, n_layer=2, n_head=4, n_positions=128)
    else:
        raise ValueError(f"family={family!r}; expected llama, qwen2 or gpt2")
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)
