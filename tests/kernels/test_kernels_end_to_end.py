"""End to end: train a TinyLM on the shipped corpus, compress it with each recipe, compare held-out
perplexity; load a checkpoint from a local directory, compress it, save and reload the result.

Recipes at 2:4 + 4-bit and at 50% unstructured + 4-bit (group scales, bf16):
magnitude and Wanda masks with absmax RTN, SparseGPT with GPTQ (SparseGPT+OPTQ), SLiM-Quant on a
Wanda mask without adapters, and the SLiM recipe (+ SLiM-LoRA, rank 0.1·min(d_out, d_in)).

What holds on a TinyLM (and is asserted): dense is best; SparseGPT beats Wanda; SLiM-LoRA beats the
same compression without adapters; 50% unstructured beats 2:4; magnitude is worse than SparseGPT
and SLiM.  What does not: magnitude vs Wanda.  Wanda's advantage on LLMs comes from outlier
feature channels (|W_ij|·√s_j is invariant to moving a scale c from a LayerNorm gain into the next
layer's weight columns; |W_ij| is not), and a TinyLM has none (channel energy max/median ≲ 20,
vs 100×+ in LLMs), so Wanda and magnitude end up within a few percent of each other.  The
mechanism is checked separately on an ``_with_outlier_features`` copy of the model: the same
function (identical dense perplexity) with 4 LayerNorm channels per norm scaled by 30 and the
consuming weight columns divided by 30; there magnitude pruning is the worst, and SLiM-LoRA
(activation-weighted) beats naive LoRA.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from fedsim_kernels.pipeline import SLIM_RECIPE, compress_model, load_compressed, save_compressed
from fedsim_kernels.tinylm import TinyLM, TinyLMConfig, encode, load_corpus, load_pretrained, perplexity, train_tiny_lm, unigram_perplexity

TRAIN_CHARS = 180_000
SLIM = {k: v for k, v in SLIM_RECIPE.items() if k not in ("sparsity", "bits")}  # wanda, slim quant, slim lora
RECIPES = {
    "magnitude": dict(pruner="magnitude", quantizer="absmax"),
    "wanda": dict(pruner="wanda", quantizer="absmax"),
    "sparsegpt": dict(pruner="sparsegpt", quantizer="gptq"),
    "slim-quant, no adapters": dict(pruner="wanda", quantizer="slim"),
    "slim (slim-lora)": dict(SLIM),
    "naive lora": dict(SLIM, lowrank="naive"),
}
SPARSITIES = ("2:4", 0.5)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small matmuls: one thread is as fast as two and immune to a busy second core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus() -> tuple[str, str]:
    text = load_corpus()
    return text[:TRAIN_CHARS], text[TRAIN_CHARS:]


def _calibration(train: str, context: int, n: int = 32, batch: int = 8) -> list[torch.Tensor]:
    ids = encode(train)
    g = torch.Generator().manual_seed(1)
    starts = torch.randint(0, ids.numel() - context, (n,), generator=g)
    return list(torch.stack([ids[s:s + context] for s in starts]).split(batch))


def _with_outlier_features(model: TinyLM, c: float = 30.0, k: int = 4, seed: int = 0) -> TinyLM:
    """Same function, LLM-like activations: k channels of every LayerNorm scaled by c, the
    columns of the layers reading them divided by c."""
    model = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for blk in model.blocks:
            for ln, readers in ((blk.ln1, (blk.attn.q_proj, blk.attn.k_proj, blk.attn.v_proj)), (blk.ln2, (blk.mlp.fc1,))):
                ch = torch.randperm(ln.weight.numel(), generator=g)[:k]
                ln.weight[ch] *= c
                ln.bias[ch] *= c
                for lin in readers:
                    lin.weight[:, ch] /= c
    return model


def _table(model: TinyLM, calib, test: str, group_size: int, recipes=RECIPES, **extra) -> dict[tuple[str, object], float]:
    out: dict[tuple[str, object], float] = {("dense", None): perplexity(model, test)}
    for sparsity in SPARSITIES:
        for name, recipe in recipes.items():
            m = copy.deepcopy(model)
            compress_model(m, calib, sparsity=sparsity, bits=4, group_size=group_size, progress=False,
                           **{**recipe, **extra})
            out[(name, sparsity)] = perplexity(m, test)
    return out


def _format(table: dict) -> str:
    rows = [f"{'recipe':<26} {'2:4+int4':>9} {'50%+int4':>9}", f"{'dense':<26} {table[('dense', None)]:>9.3f}"]
    for name in dict.fromkeys(k[0] for k in table if k[0] != "dense"):
        rows.append(f"{name:<26} " + " ".join(f"{table.get((name, s), math.nan):>9.3f}" for s in SPARSITIES))
    return "\n".join(rows)


def _assert_orderings(t: dict) -> None:
    msg = "\n" + _format(t)
    dense = t[("dense", None)]
    for s in SPARSITIES:
        assert all(dense < v for k, v in t.items() if k[0] != "dense"), msg
        assert t[("sparsegpt", s)] < t[("wanda", s)], msg
        assert t[("slim (slim-lora)", s)] < t[("slim-quant, no adapters", s)], msg
        assert t[("magnitude", s)] > max(t[("sparsegpt", s)], t[("slim (slim-lora)", s)]), msg
        assert abs(math.log(t[("wanda", s)] / t[("magnitude", s)])) < 0.2, msg  # no outliers: a near tie
    for name in RECIPES:
        assert t[(name, 0.5)] < t[(name, "2:4")], msg  # 50% unstructured beats 2:4


def _assert_outlier_orderings(t: dict, pruning_only: dict) -> None:
    msg = "\n" + _format(t) + "\npruning only:\n" + _format(pruning_only)
    for s in SPARSITIES:
        # Wanda is invariant to the reparametrization, magnitude is not: magnitude is worst.
        assert pruning_only[("magnitude", s)] > pruning_only[("wanda", s)] > pruning_only[("sparsegpt", s)], msg
        # Tiny weight columns lose most of their precision in 4-bit groups; the activation-weighted
        # adapters put the correction where the large activations are.
        assert t[("slim (slim-lora)", s)] < t[("naive lora", s)] < t[("slim-quant, no adapters", s)], msg
        assert t[("magnitude", s)] > t[("sparsegpt", s)], msg


# ----------------------------------------------------------------------------- smoke (unmarked)
SMOKE = TinyLMConfig(d_model=64, n_layers=2, n_heads=4, d_ff=256, context=64)


@pytest.fixture(scope="module")
def smoke_model(corpus) -> TinyLM:
    return train_tiny_lm(SMOKE, corpus[0], steps=300, batch=32, lr=3e-3, seed=0)


@pytest.mark.slow  # a trained model or a subprocess run: the default suite's budget
def test_smoke_perplexity_orderings(smoke_model, corpus):
    train, test = corpus
    table = _table(smoke_model, _calibration(train, SMOKE.context), test, group_size=64)
    print("\n" + _format(table))
    assert table[("dense", None)] < unigram_perplexity(train, test) / 3
    _assert_orderings(table)


@pytest.mark.slow  # a trained model or a subprocess run: the default suite's budget
def test_smoke_outlier_features_make_magnitude_worst(smoke_model, corpus):
    train, test = corpus
    model = _with_outlier_features(smoke_model)
    assert perplexity(model, test) == pytest.approx(perplexity(smoke_model, test), rel=1e-5)
    calib = _calibration(train, SMOKE.context)
    lora = {k: RECIPES[k] for k in ("magnitude", "sparsegpt", "slim-quant, no adapters", "slim (slim-lora)", "naive lora")}
    table = _table(model, calib, test, group_size=64, recipes=lora)
    prune = {k: RECIPES[k] for k in ("magnitude", "wanda", "sparsegpt")}
    pruning_only = {("dense", None): table[("dense", None)]}
    for s in SPARSITIES:
        for name, recipe in prune.items():
            m = copy.deepcopy(model)
            compress_model(m, calib, sparsity=s, bits=None, progress=False, **recipe)
            pruning_only[(name, s)] = perplexity(m, test)
    print("\noutlier features, 4-bit:\n" + _format(table) + "\npruning only:\n" + _format(pruning_only))
    _assert_outlier_orderings(table, pruning_only)


@pytest.mark.slow  # needs the trained model fixture: the default suite's budget
def test_local_checkpoint_compresses_saves_and_reloads(smoke_model, corpus, tmp_path):
    train, test = corpus
    smoke_model.save_pretrained(tmp_path / "tinylm")
    model = load_pretrained(tmp_path / "tinylm")
    dense = perplexity(model, test)
    report = compress_model(model, _calibration(train, SMOKE.context), group_size=64, progress=False, **SLIM_RECIPE)
    ppl = perplexity(model, test)
    assert math.isfinite(ppl) and dense < ppl < unigram_perplexity(train, test)
    assert report.ratio < 0.3
    save_compressed(model, tmp_path / "compressed")
    again = load_compressed(load_pretrained(tmp_path / "tinylm"), tmp_path / "compressed")
    ids = encode(test[:256]).view(4, 64)
    with torch.no_grad():
        assert torch.equal(again(ids), model(ids))
    assert perplexity(again, test) == ppl


# ----------------------------------------------------------------------------- full (slow)
FULL = TinyLMConfig(d_model=128, n_layers=2, n_heads=4, d_ff=512, context=64)


@pytest.mark.slow
def test_full_perplexity_table(corpus):
    train, test = corpus
    model = train_tiny_lm(FULL, train, steps=600, batch=32, lr=3e-3, seed=0)
    calib = _calibration(train, FULL.context, n=64, batch=16)
    table = _table(model, calib, test, group_size=128)
    print("\nTinyLM d_model=128, 600 steps:\n" + _format(table))
    _assert_orderings(table)
    outliers = _with_outlier_features(model)
    table_o = _table(outliers, calib, test, group_size=128)
    pruning_only = {("dense", None): table_o[("dense", None)]}
    for s in SPARSITIES:
        for name in ("magnitude", "wanda", "sparsegpt"):
            m = copy.deepcopy(outliers)
            compress_model(m, calib, sparsity=s, bits=None, progress=False, **RECIPES[name])
            pruning_only[(name, s)] = perplexity(m, test)
    print("\nwith outlier features, 4-bit:\n" + _format(table_o) + "\npruning only:\n" + _format(pruning_only))
    _assert_outlier_orderings(table_o, pruning_only)
