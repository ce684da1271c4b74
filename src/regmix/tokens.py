"""Tokenizer (trained byte-level BPE or a given tokenizer.json) and packed, memory-mapped token arrays.

Output layout: `<out>/tokenizer.json`, `<out>/<split>/<domain>.npy` (documents concatenated, each
followed by the end-of-text token), `<out>/counts.json` (tokens per split and domain) and
`<out>/prior.yaml` (the token prior over training domains, in the paper's mixture format).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm import tqdm

from .domains import Layout, read_texts
from .errors import InputError
from .io import atomic_path, read_json, write_json
from .mixtures import read_mixture_yaml, write_mixture_yaml

EOS = "<|endoftext|>"


@dataclass(frozen=True)
class TokenizerConfig:
    path: str | None = None  # a tokenizer.json to load (e.g. GPT-NeoX's); None trains a BPE
    vocab_size: int = 2048  # for the trained BPE
    eos_token: str = EOS  # appended after every document
    batch_size: int = 1000  # documents per encode_batch call


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE (GPT-2 style) trained on `texts`, with `EOS` as its one special token."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def load_tokenizer(path: str | Path, eos_token: str) -> Tokenizer:
    """Load a `tokenizer.json`; its vocabulary must contain `eos_token`."""
    path = Path(path)
    if not path.is_file():
        raise InputError("params.yaml, field tokenizer.path", f"file {str(path)!r} not found", "give the path of a tokenizer.json, or null to train a BPE")
    tok = Tokenizer.from_file(str(path))
    if tok.token_to_id(eos_token) is None:
        raise InputError(f"{path}, token {eos_token!r}", "not in the vocabulary", "set tokenizer.eos_token to the tokenizer's end-of-text token")
    return tok


def _dtype(vocab_size: int):
    return np.uint16 if vocab_size <= 2**16 else np.uint32


def encode_domain(tok: Tokenizer, paths: list[Path], eos_id: int, batch_size: int) -> np.ndarray:
    """All documents of one domain, encoded and packed with an EOS after each."""
    dtype = _dtype(tok.get_vocab_size())
    parts, batch = [], []

    def flush():
        for enc in tok.encode_batch(batch, add_special_tokens=False):
            parts.append(np.array(enc.ids + [eos_id], dtype=dtype))
        batch.clear()

    for p in paths:
        for text in read_texts(p):
            if text.strip():
                batch.append(text)
                if len(batch) >= batch_size:
                    flush()
    flush()
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def tokenize_layout(layout: Layout, out: str | Path, cfg: TokenizerConfig, target: str | None) -> dict:
    """Tokenize every domain of `layout` into `out` (atomically); return the counts."""
    if cfg.path:
        tok = load_tokenizer(cfg.path, cfg.eos_token)
    else:
        texts = (t for ps in layout.files["train"].values() for p in ps for t in read_texts(p))
        tok = train_bpe(texts, cfg.vocab_size)
    eos_id = tok.token_to_id(cfg.eos_token)
    counts: dict[str, dict[str, int]] = {}
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        tok.save(str(tmp / "tokenizer.json"))
        jobs = [(s, d, ps) for s, ds in layout.files.items() for d, ps in sorted(ds.items())]
        for split, domain, paths in tqdm(jobs, desc="tokenize", unit="domain"):
            ids = encode_domain(tok, paths, eos_id, cfg.batch_size)
            if ids.size <= 1:
                raise InputError(str(paths[0]), f"domain {domain!r} ({split}) has no tokens", "add documents or remove the domain")
            (tmp / split).mkdir(exist_ok=True)
            np.save(tmp / split / f"{domain}.npy", ids)
            counts.setdefault(split, {})[domain] = int(ids.size)
        write_json(tmp / "counts.json", {"vocab_size": tok.get_vocab_size(), "eos_id": eos_id, **counts})
        total = sum(counts["train"].values())
        write_mixture_yaml(tmp / "prior.yaml", {d: n / total for d, n in counts["train"].items()}, target)
    return counts


class TokenStore:
    """Read-only, memory-mapped access to the arrays written by `tokenize_layout`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta = read_json(self.root / "counts.json")
        self.vocab_size: int = meta["vocab_size"]
        self.eos_id: int = meta["eos_id"]
        self.counts: dict[str, dict[str, int]] = {s: meta[s] for s in ("train", "valid") if s in meta}
        self._arrays: dict[tuple[str, str], np.ndarray] = {}

    @property
    def train_domains(self) -> list[str]:
        return list(self.counts["train"])

    @property
    def eval_domains(self) -> list[str]:
        return list(self.counts["valid"])

    def prior(self) -> dict[str, float]:
        return read_mixture_yaml(self.root / "prior.yaml", self.train_domains)

    def array(self, split: str, domain: str) -> np.ndarray:
        key = (split, domain)
        if key not in self._arrays:
            self._arrays[key] = np.load(self.root / split / f"{domain}.npy", mmap_mode="r")
        return self._arrays[key]
