"""Tiny byte-level LM: corpus, architecture, checkpoints, training, perplexity protocol."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch
import torch.nn.functional as F

from fedsim_kernels.tinylm import (
    CORPUS_FILE,
    TinyLM,
    TinyLMConfig,
    decode,
    encode,
    generate_corpus,
    load_corpus,
    load_pretrained,
    perplexity,
    sample_text,
    train_tiny_lm,
    unigram_perplexity,
)

SMALL = TinyLMConfig(d_model=64, n_layers=2, n_heads=4, d_ff=256, context=64)
TRAIN_CHARS = 180_000


@pytest.fixture(scope="module")
def corpus() -> tuple[str, str]:
    text = load_corpus()
    return text[:TRAIN_CHARS], text[TRAIN_CHARS:]


@pytest.fixture(scope="module")
def trained(corpus) -> tuple[TinyLM, float]:
    start = time.perf_counter()
    model = train_tiny_lm(SMALL, corpus[0], steps=300, batch=32, lr=3e-3, seed=0)
    return model, time.perf_counter() - start


# ----------------------------------------------------------------------------- corpus
def test_corpus_is_deterministic_structured_text():
    a = generate_corpus(seed=3, n_chars=20_000)
    assert a == generate_corpus(seed=3, n_chars=20_000)
    assert a != generate_corpus(seed=4, n_chars=20_000)
    assert len(a) == 20_000 and a.isascii()
    words = {w.strip(".,?").lower() for w in a.split()}
    assert 200 < len(words) < 1500  # a few hundred words
    assert a.count("\n") > 50  # many paragraphs


def test_shipped_corpus_is_the_grammar_output():
    text = load_corpus()
    assert CORPUS_FILE.parent.name == "data"
    assert len(text) == 200_000
    assert text == generate_corpus(0, len(text))


def test_byte_codec_round_trips():
    s = "Anna was a baker. Ünïcode ✓\n"
    ids = encode(s)
    assert ids.dtype == torch.long and int(ids.max()) < 256
    assert decode(ids) == s


# ----------------------------------------------------------------------------- model
def test_config_validation_and_dict_round_trip():
    cfg = TinyLMConfig(d_model=32, n_heads=2, d_ff=64, context=16, tie_weights=True)
    assert TinyLMConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="d_model=30 must be divisible by n_heads=4"):
        TinyLMConfig(d_model=30)
    with pytest.raises(ValueError, match="context=1"):
        TinyLMConfig(context=1)
    with pytest.raises(ValueError, match="n_layers=0"):
        TinyLMConfig(n_layers=0)
    with pytest.raises(ValueError, match=r"config keys=\['n_embd'\]"):
        TinyLMConfig.from_dict({"n_embd": 12})


def test_forward_shapes_linear_layers_and_causality():
    torch.manual_seed(0)
    model = TinyLM(TinyLMConfig(d_model=32, n_layers=2, n_heads=4, d_ff=64, context=16)).eval()
    ids = torch.randint(0, 256, (3, 16))
    logits = model(ids)
    assert logits.shape == (3, 16, 256)
    # Per block: q, k, v, out, fc1, fc2; plus the head.
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 2 * 6 + 1
    changed = ids.clone()
    changed[:, 10] = (changed[:, 10] + 1) % 256
    torch.testing.assert_close(model(changed)[:, :10], logits[:, :10])
    assert not torch.allclose(model(changed)[:, 10:], logits[:, 10:])
    with pytest.raises(ValueError, match="sequence length=17"):
        model(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("tie", [False, True])
def test_save_load_round_trip_gives_identical_logits(tmp_path, tie):
    torch.manual_seed(0)
    model = TinyLM(TinyLMConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, context=16, tie_weights=tie)).eval()
    model.save_pretrained(tmp_path / "ckpt")
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert "config.json" in files and files & {"model.safetensors", "model.pt"}
    assert not any(name.startswith(".") for name in files)  # no temp files left behind
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["tie_weights"] is tie
    loaded = load_pretrained(tmp_path / "ckpt")
    assert not loaded.training
    ids = torch.randint(0, 256, (2, 16))
    assert torch.equal(loaded(ids), model(ids))
    assert torch.equal(TinyLM.from_pretrained(str(tmp_path / "ckpt"))(ids), model(ids))
    if tie:
        assert loaded.head.weight is loaded.tok_emb.weight


def test_load_pretrained_reports_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(SMALL.to_dict()))
    with pytest.raises(FileNotFoundError, match="neither"):
        load_pretrained(tmp_path)


# ----------------------------------------------------------------------------- training
def test_training_is_deterministic_per_seed(corpus):
    cfg = TinyLMConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, context=32)
    state = torch.get_rng_state()
    a = train_tiny_lm(cfg, corpus[0], steps=5, batch=4, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched
    b = train_tiny_lm(cfg, corpus[0], steps=5, batch=4, seed=7)
    c = train_tiny_lm(cfg, corpus[0], steps=5, batch=4, seed=8)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert not torch.equal(a.head.weight, c.head.weight)


def test_training_rejects_bad_arguments():
    with pytest.raises(ValueError, match="steps=0"):
        train_tiny_lm(SMALL, "abc" * 100, steps=0)
    with pytest.raises(ValueError, match="context\\+1=65"):
        train_tiny_lm(SMALL, "short text", steps=1)


@pytest.mark.slow  # a trained model or a subprocess run: the default suite's budget
def test_trained_model_beats_the_unigram_baseline(corpus, trained):
    model, seconds = trained
    train, test = corpus
    ppl = perplexity(model, test)
    unigram = unigram_perplexity(train, test)
    print(f"tiny LM: {seconds:.1f} s training, perplexity {ppl:.2f} vs unigram {unigram:.2f}")
    assert unigram > 15  # bytes of English-like text
    assert ppl < 0.4 * unigram
    assert perplexity(model, train[:20_000]) < 0.4 * unigram


# ----------------------------------------------------------------------------- perplexity
def test_perplexity_follows_the_window_protocol():
    torch.manual_seed(0)
    model = TinyLM(TinyLMConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, context=16)).eval()
    ids = torch.randint(0, 256, (16 * 5 + 7,))  # the trailing 7 tokens are dropped
    windows = ids[:80].view(5, 16)
    with torch.no_grad():
        logits = model(windows)
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, 256), windows[:, 1:].reshape(-1))
    assert perplexity(model, ids, batch=2) == pytest.approx(math.exp(nll.item()), rel=1e-5)
    assert perplexity(model, ids, context=8) != pytest.approx(perplexity(model, ids), rel=1e-6)
    # An untrained model is close to uniform over 256 bytes.
    assert 150 < perplexity(model, ids) < 400
    with pytest.raises(ValueError, match="context=32"):
        perplexity(model, ids, context=32)
    with pytest.raises(ValueError, match="fewer than one window"):
        perplexity(model, ids[:10])


def test_unigram_perplexity_of_a_uniform_text():
    ids = torch.arange(256)
    assert unigram_perplexity(ids, ids) == pytest.approx(256.0)


@pytest.mark.slow  # needs the trained model fixture: the default suite's budget
def test_sample_text_is_deterministic(trained):
    model, _ = trained
    a = sample_text(model, "Anna was a ", 40, temperature=0.0)
    assert a == sample_text(model, "Anna was a ", 40, temperature=0.0)
    assert a.startswith("Anna was a ") and len(a) == len("Anna was a ") + 40


@pytest.mark.slow
def test_default_config_trains_to_a_low_perplexity(corpus):
    """The default model, trained for a couple of minutes: far below the unigram baseline."""
    train, test = corpus
    start = time.perf_counter()
    model = train_tiny_lm(TinyLMConfig(), train, steps=600, batch=32, lr=3e-3, seed=0)
    seconds = time.perf_counter() - start
    ppl = perplexity(model, test)
    unigram = unigram_perplexity(train, test)
    print(f"default tiny LM: {seconds:.0f} s training, perplexity {ppl:.2f} vs unigram {unigram:.2f}")
    assert ppl < 0.15 * unigram
