"""A tiny byte-level causal language model for end-to-end compression tests.

No hub downloads and no ``transformers``: a GPT-style model (token + position embeddings, pre-norm
blocks of causal self-attention and a GELU MLP built from ``nn.Linear``, final LayerNorm, linear
head) whose Linear layers are exactly what the compression kernels prune and quantize. Text is
UTF-8 bytes, so the vocabulary is 256 and no tokenizer file is needed.

- ``TinyLMConfig`` / ``TinyLM``: the architecture; ``save_pretrained(dir)`` writes ``config.json``
  and the weights (``model.safetensors`` when ``safetensors`` is installed, else ``model.pt``);
  ``load_pretrained(dir)`` reads either back from a local directory.
- ``generate_corpus(seed, n_chars)``: deterministic English-like text from a seeded grammar over a
  few hundred words, with themed paragraphs and recurring characters, so there is structure at
  the word and the paragraph level to learn. ``load_corpus()`` reads the copy shipped in
  ``kernels/data/`` (made by the same grammar).
- ``train_tiny_lm``: AdamW with warmup and cosine decay on random windows.
- ``perplexity``: the GPTQ/SLiM protocol — non-overlapping windows of the joined text,
  ``exp(mean NLL)`` over the predicted tokens; ``unigram_perplexity`` is the baseline to beat.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ._atomic import atomic_write
from ._torch_load import load_tensors_only

__all__ = [
    "TinyLMConfig",
    "TinyLM",
    "load_pretrained",
    "encode",
    "decode",
    "generate_corpus",
    "load_corpus",
    "CORPUS_FILE",
    "train_tiny_lm",
    "perplexity",
    "unigram_perplexity",
    "sample_text",
]

CONFIG_NAME = "config.json"
SAFETENSORS_NAME = "model.safetensors"
TORCH_NAME = "model.pt"
CORPUS_FILE = Path(__file__).resolve().parent / "data" / "grammar_corpus.txt"
CORPUS_SEED = 0  # the shipped corpus is generate_corpus(CORPUS_SEED, its length)


# ----------------------------------------------------------------------------- config
@dataclass(frozen=True)
class TinyLMConfig:
    """Architecture of a ``TinyLM``; validated on construction."""

    vocab_size: int = 256
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    context: int = 128
    tie_weights: bool = False

    def __post_init__(self) -> None:
        for f in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff"):
            v = getattr(self, f)
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"{f}={v!r} must be an integer >= 1")
        if not (isinstance(self.context, int) and self.context >= 2):
            raise ValueError(f"context={self.context!r} must be an integer >= 2")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TinyLMConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"model_type"})
        if unknown:
            raise ValueError(f"config keys={unknown} are unknown; allowed: {sorted(known)}")
        return cls(**{k: v for k, v in data.items() if k in known})


# ----------------------------------------------------------------------------- model
class CausalSelfAttention(nn.Module):
    """Multi-head causal attention with separate q/k/v/out projections (one Linear each to prune)."""

    def __init__(self, cfg: TinyLMConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.k_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.v_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2)

        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, cfg: TinyLMConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.fc2 = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: TinyLMConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    """Byte-level GPT: ``forward(ids (B, T)) -> logits (B, T, vocab_size)``, T ≤ context."""

    def __init__(self, config: TinyLMConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.context, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        # GPT-2: shrink the residual-branch outputs so the residual stream starts at unit scale.
        for block in self.blocks:
            for proj in (block.attn.out_proj, block.mlp.fc2):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * config.n_layers))
        if config.tie_weights:
            self.head.weight = self.tok_emb.weight

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2:
            raise ValueError(f"ids.shape={tuple(ids.shape)} must be (batch, tokens)")
        t = ids.shape[1]
        if not 1 <= t <= self.config.context:
            raise ValueError(f"sequence length={t} must be in [1, context={self.config.context}]")
        pos = torch.arange(t, device=ids.device)
        x = self.tok_emb(ids) + self.pos_emb(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    # -- checkpoints
    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write ``config.json`` and the weights into directory ``path`` (created if needed)."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        if self.config.tie_weights:
            state.pop("head.weight")  # the same tensor as tok_emb.weight; re-tied on load
        try:
            from safetensors.torch import save as safetensors_bytes
        except ImportError:
            atomic_write(out / TORCH_NAME, lambda f: torch.save(state, f))
            (out / SAFETENSORS_NAME).unlink(missing_ok=True)  # never leave a stale twin behind
        else:
            atomic_write(out / SAFETENSORS_NAME, lambda f: f.write(safetensors_bytes(state)))
            (out / TORCH_NAME).unlink(missing_ok=True)
        config = {"model_type": "tinylm", **self.config.to_dict()}
        atomic_write(out / CONFIG_NAME, lambda f: f.write((json.dumps(config, indent=2) + "\n").encode()))
        return out

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> TinyLM:
        return load_pretrained(path)


def load_pretrained(path: str | os.PathLike) -> TinyLM:
    """Load a ``TinyLM`` saved by ``save_pretrained`` from local directory ``path`` (eval mode)."""
    src = Path(path)
    if not (src / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"path={str(src)!r} has no {CONFIG_NAME}; expected a save_pretrained directory")
    config = TinyLMConfig.from_dict(json.loads((src / CONFIG_NAME).read_text()))
    if (src / SAFETENSORS_NAME).is_file():
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise ImportError(f"{src / SAFETENSORS_NAME} needs the safetensors package to load") from exc
        try:
            state = load_file(str(src / SAFETENSORS_NAME))
        except Exception as error:  # noqa: BLE001 - safetensors' own error type: one line of ours
            raise ValueError(f"{SAFETENSORS_NAME} is not a valid safetensors file ({type(error).__name__}: "
                             f"{str(error).strip().splitlines()[0] if str(error).strip() else ''})") from None
    elif (src / TORCH_NAME).is_file():
        state = load_tensors_only(src / TORCH_NAME)
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError(f"{TORCH_NAME} does not hold a mapping of names to tensors")
    else:
        raise FileNotFoundError(f"path={str(src)!r} has neither {SAFETENSORS_NAME} nor {TORCH_NAME}")
    if config.tie_weights and "head.weight" not in state:
        state["head.weight"] = state["tok_emb.weight"]
    model = TinyLM(config)
    model.load_state_dict(state)
    return model.eval()


# ----------------------------------------------------------------------------- bytes
def encode(text: str) -> torch.Tensor:
    """UTF-8 bytes of ``text`` as a 1-D LongTensor of token ids in [0, 256)."""
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def decode(ids: torch.Tensor | list[int]) -> str:
    return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


def _as_ids(text: str | torch.Tensor, vocab_size: int) -> torch.Tensor:
    ids = encode(text) if isinstance(text, str) else text.reshape(-1).long()
    if ids.numel() and int(ids.max()) >= vocab_size:
        raise ValueError(f"token id={int(ids.max())} is outside the model's vocab_size={vocab_size}")
    return ids


# ----------------------------------------------------------------------------- corpus
# A small hand-written lexicon. Themes give paragraphs a topic, so which nouns appear depends on
# text many sentences back; characters recur within a paragraph.
_THEMES: dict[str, dict[str, list[str]]] = {
    "sea": {
        "nouns": "boat sail net fish wave harbor rope anchor gull shell lighthouse storm tide island deck oar "
        "crab whale pier compass".split(),
        "places": "the harbor|the old pier|the rocky shore|the island|the lighthouse|the open sea".split("|"),
        "people": "fisherman sailor captain diver".split(),
    },
    "farm": {
        "nouns": "field barn cow horse goat sheep hen egg apple plough fence wheat corn hay cart orchard "
        "pig well tractor seed".split(),
        "places": "the barn|the wheat field|the orchard|the muddy lane|the farmhouse|the meadow".split("|"),
        "people": "farmer shepherd miller beekeeper".split(),
    },
    "city": {
        "nouns": "street train bridge tower market lamp window clock shop bus ticket map coin newspaper "
        "bicycle umbrella cafe letter key door".split(),
        "places": "the station|the market square|the library|the bridge|the busy street|the old tower".split("|"),
        "people": "baker teacher clerk driver".split(),
    },
    "forest": {
        "nouns": "tree path fox owl deer river stone mushroom leaf branch cabin fire wolf bear moss "
        "lantern trail squirrel berry nest".split(),
        "places": "the dark forest|the river bank|the old cabin|the hill|the clearing|the narrow trail".split("|"),
        "people": "hunter woodcutter ranger traveler".split(),
    },
    "kitchen": {
        "nouns": "bread soup pot knife spoon bowl cup kettle oven table plate butter cheese honey salt "
        "pepper onion cake jar pan".split(),
        "places": "the kitchen|the pantry|the garden|the cellar|the back door|the long table".split("|"),
        "people": "cook grandmother child neighbor".split(),
    },
}
_ADJECTIVES = (
    "old young small big quiet loud bright dark warm cold heavy light quick slow happy sad tired "
    "brave careful curious gentle strange tall short green red blue golden silver wooden broken "
    "clean dirty empty full soft hard wet dry sweet bitter round narrow wide proud kind clever "
    "lonely busy famous hidden ancient fresh simple rough"
).split()
_ADVERBS = (
    "slowly quickly quietly carefully happily sadly suddenly often never always again together "
    "softly loudly gently early late"
).split()
# base, third person singular, past
_VERBS = [
    ("carry", "carries", "carried"), ("find", "finds", "found"), ("see", "sees", "saw"),
    ("take", "takes", "took"), ("bring", "brings", "brought"), ("hold", "holds", "held"),
    ("watch", "watches", "watched"), ("clean", "cleans", "cleaned"), ("mend", "mends", "mended"),
    ("open", "opens", "opened"), ("close", "closes", "closed"), ("paint", "paints", "painted"),
    ("sell", "sells", "sold"), ("buy", "buys", "bought"), ("hide", "hides", "hid"),
    ("lose", "loses", "lost"), ("count", "counts", "counted"), ("pull", "pulls", "pulled"),
    ("push", "pushes", "pushed"), ("follow", "follows", "followed"), ("build", "builds", "built"),
    ("need", "needs", "needed"), ("love", "loves", "loved"), ("want", "wants", "wanted"),
    ("remember", "remembers", "remembered"), ("draw", "draws", "drew"), ("fix", "fixes", "fixed"),
    ("keep", "keeps", "kept"), ("leave", "leaves", "left"), ("lift", "lifts", "lifted"),
]
_MOTION = [
    ("walk", "walks", "walked"), ("run", "runs", "ran"), ("go", "goes", "went"),
    ("come", "comes", "came"), ("return", "returns", "returned"), ("hurry", "hurries", "hurried"),
    ("wander", "wanders", "wandered"), ("climb", "climbs", "climbed"),
]
_NAMES = (
    "Anna Ben Clara David Ella Frank Grace Henry Iris Jack Lena Max Nora Oscar Paula Quinn Rosa "
    "Sam Tessa Victor Wendy Leo Mia Tom"
).split()
_TIMES = (
    "the morning|the evening|the afternoon|the winter|the summer|the spring|the autumn|the night"
).split("|")
_FEELINGS = "happy tired hungry worried proud calm surprised cold".split()
_IRREGULAR_PLURAL = {"fish": "fish", "sheep": "sheep", "deer": "deer", "wolf": "wolves", "leaf": "leaves",
                     "knife": "knives", "child": "children"}


def _plural(noun: str) -> str:
    if noun in _IRREGULAR_PLURAL:
        return _IRREGULAR_PLURAL[noun]
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


class _Grammar:
    """Sentence templates over one paragraph's theme and cast."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def paragraph(self) -> str:
        rng = self.rng
        theme = _THEMES[rng.choice(sorted(_THEMES))]
        hero, friend = rng.sample(_NAMES, 2)
        role = rng.choice(theme["people"])
        sentences = [f"{hero} was {_article(role)} {role} who lived near {rng.choice(theme['places'])}."]
        for _ in range(rng.randint(3, 7)):
            sentences.append(self.sentence(theme, hero, friend))
        return " ".join(sentences)

    def _np(self, theme: dict, definite: bool | None = None) -> tuple[str, bool]:
        """A noun phrase and whether it is plural."""
        rng = self.rng
        noun = rng.choice(theme["nouns"])
        adj = rng.choice(_ADJECTIVES) if rng.random() < 0.5 else ""
        plural = rng.random() < 0.3
        if plural:
            noun = _plural(noun)
        head = f"{adj} {noun}" if adj else noun
        if definite is None:
            definite = rng.random() < 0.6
        if definite:
            return f"the {head}", plural
        if plural:
            return (f"some {head}" if rng.random() < 0.5 else head), True
        return f"{_article(head)} {head}", False

    def sentence(self, theme: dict, hero: str, friend: str) -> str:
        rng = self.rng
        who = rng.choice([hero, hero, friend, "she" if rng.random() < 0.5 else "he"])
        subj = who[0].upper() + who[1:]
        verb = rng.choice(_VERBS)
        obj, _ = self._np(theme)
        place = rng.choice(theme["places"])
        kind = rng.randrange(9)
        if kind == 0:
            return f"{subj} {verb[2]} {obj} near {place}."
        if kind == 1:
            time = rng.choice(_TIMES)
            return f"In {time}, {who} {verb[2]} {obj}."
        if kind == 2:
            np_, plural = self._np(theme, definite=True)
            np_ = np_[0].upper() + np_[1:]
            pron = "them" if plural else "it"
            adj, adv = rng.choice(_ADJECTIVES), rng.choice(_ADVERBS)
            return f"{np_} {'were' if plural else 'was'} {adj}, so {who} {verb[2]} {pron} {adv}."
        if kind == 3:
            move = rng.choice(_MOTION)
            return f"{subj} {move[2]} {rng.choice(_ADVERBS)} to {place}."
        if kind == 4:
            obj, plural = self._np(theme)
            return f"{subj} said that {obj} {'were' if plural else 'was'} {rng.choice(_ADJECTIVES)}."
        if kind == 5:
            return f"Why did {who if who in (hero, friend) else hero} {verb[0]} {obj}?"
        if kind == 6:
            other = rng.choice(_VERBS)
            obj2, _ = self._np(theme)
            conj = rng.choice(["and", "but", "because"])
            return f"{subj} {verb[2]} {obj}, {conj} {friend} {other[2]} {obj2}."
        if kind == 7:
            return f"{subj} felt {rng.choice(_FEELINGS)} when {friend} {verb[2]} {obj}."
        count = rng.choice(["two", "three", "four", "five", "many"])
        noun = rng.choice(theme["nouns"])
        return f"There were {count} {_plural(noun)} at {place}, and {who} {verb[2]} one of them."


def generate_corpus(seed: int = 0, n_chars: int = 100_000) -> str:
    """Deterministic English-like text of exactly ``n_chars`` characters (ASCII) from a seeded grammar.

    Paragraphs (one per line) pick a theme, a character and a friend; sentences mix a dozen
    templates over a few hundred words with agreement, so a model can learn spelling, syntax and
    topical co-occurrence.
    """
    if not (isinstance(n_chars, int) and n_chars >= 1):
        raise ValueError(f"n_chars={n_chars!r} must be an integer >= 1")
    grammar = _Grammar(random.Random(seed))
    parts: list[str] = []
    total = 0
    while total < n_chars:
        para = grammar.paragraph() + "\n"
        parts.append(para)
        total += len(para)
    return "".join(parts)[:n_chars]


def load_corpus() -> str:
    """The corpus shipped in ``kernels/data/`` (``generate_corpus(0, ...)``, written once)."""
    return CORPUS_FILE.read_text(encoding="ascii")


# ----------------------------------------------------------------------------- training
def train_tiny_lm(
    config: TinyLMConfig,
    text: str | torch.Tensor,
    steps: int = 1000,
    batch: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    *,
    warmup: int | None = None,
    weight_decay: float = 0.01,
    grad_clip: float = 1.0,
) -> TinyLM:
    """Train a fresh ``TinyLM`` on random full-context windows of ``text``; returns it in eval mode.

    AdamW (β = 0.9, 0.95) with linear warmup (default 5% of steps) and cosine decay to 10% of
    ``lr``. Deterministic per ``seed`` (initialization and window sampling use their own
    streams, the global RNG is left untouched).
    """
    for name, v in (("steps", steps), ("batch", batch)):
        if not (isinstance(v, int) and v >= 1):
            raise ValueError(f"{name}={v!r} must be an integer >= 1")
    if not lr > 0:
        raise ValueError(f"lr={lr} must be > 0")
    ids = _as_ids(text, config.vocab_size)
    span = config.context + 1
    if ids.numel() < span:
        raise ValueError(f"text has {ids.numel()} tokens; training needs at least context+1={span}")
    warmup = max(1, steps // 20) if warmup is None else warmup
    if not (isinstance(warmup, int) and 0 <= warmup <= steps):
        raise ValueError(f"warmup={warmup!r} must be an integer in [0, steps={steps}]")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyLM(config)
    gen = torch.Generator().manual_seed(seed + 1)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, betas=(0.9, 0.95),
    )

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * frac)))

    offsets = torch.arange(span)
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        starts = torch.randint(0, ids.numel() - span + 1, (batch,), generator=gen)
        chunk = ids[starts[:, None] + offsets]
        logits = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, config.vocab_size), chunk[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
    return model.eval()


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def perplexity(model: nn.Module, text: str | torch.Tensor, context: int | None = None, batch: int = 16) -> float:
    """Perplexity on non-overlapping windows of ``context`` tokens: ``exp(mean NLL)``.

    Each window predicts its tokens 2..context from the preceding ones (the GPTQ/SLiM protocol);
    a trailing partial window is dropped. ``model`` maps ids (B, T) to logits (B, T, V).
    """
    config = getattr(model, "config", None)
    vocab = getattr(config, "vocab_size", 256)
    if context is None:
        context = getattr(config, "context", None)
        if context is None:
            raise ValueError("context=None needs a model with config.context; pass context explicitly")
    max_context = getattr(config, "context", context)
    if not (isinstance(context, int) and 2 <= context <= max_context):
        raise ValueError(f"context={context!r} must be an integer in [2, {max_context}]")
    ids = _as_ids(text, vocab)
    n_windows = ids.numel() // context
    if n_windows == 0:
        raise ValueError(f"text has {ids.numel()} tokens, fewer than one window of context={context}")
    windows = ids[: n_windows * context].view(n_windows, context)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for chunk in windows.split(batch):
            logits = model(chunk)
            nll = F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).float(), chunk[:, 1:].reshape(-1), reduction="sum"
            )
            total += float(nll)
            count += chunk[:, 1:].numel()
    finally:
        model.train(was_training)
    return math.exp(total / count)


def unigram_perplexity(train_text: str | torch.Tensor, test_text: str | torch.Tensor, vocab_size: int = 256) -> float:
    """Perplexity of add-one-smoothed byte frequencies of ``train_text`` on ``test_text``: the floor to beat."""
    train = _as_ids(train_text, vocab_size)
    test = _as_ids(test_text, vocab_size)
    if test.numel() == 0:
        raise ValueError("test_text is empty; perplexity needs at least one token")
    counts = torch.bincount(train, minlength=vocab_size).double() + 1.0
    logp = torch.log(counts / counts.sum())
    return math.exp(-float(logp[test].mean()))


@torch.no_grad()
def sample_text(model: TinyLM, prompt: str, max_new_tokens: int = 100, temperature: float = 1.0, seed: int = 0) -> str:
    """Continue ``prompt``; ``temperature=0`` is greedy. For eyeballing what a model learned."""
    if temperature < 0:
        raise ValueError(f"temperature={temperature} must be >= 0")
    ids = _as_ids(prompt, model.config.vocab_size).tolist() or [ord("\n")]
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    for _ in range(max_new_tokens):
        window = torch.tensor([ids[-model.config.context :]])
        logits = model(window)[0, -1].float()
        if temperature == 0:
            nxt = int(logits.argmax())
        else:
            nxt = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen))
        ids.append(nxt)
    return decode(ids)
