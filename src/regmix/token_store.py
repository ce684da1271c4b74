"""The tokenized data on disk: packed, memory-mapped token arrays, their counts and a content hash.

Layout: `<root>/tokenizer.json`, `<root>/<split>/<domain>.npy` (documents concatenated, each followed
by the end-of-text token), `<root>/counts.json` (vocabulary size, EOS id, tokens per split and domain,
and `content_hash`, a SHA-256 of the tokenizer and every array) and `<root>/prior.yaml` (the token
prior over training domains, in the paper's mixture format).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import read_json
from .formats import read_mixture_yaml


def token_dtype(vocab_size: int):
    """The smallest unsigned type that holds every token id."""
    return np.uint16 if vocab_size <= 2**16 else np.uint32


class TokenStore:
    """Read-only, memory-mapped access to the arrays written by the tokenize stage."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta = read_json(self.root / "counts.json")
        self.vocab_size: int = meta["vocab_size"]
        self.eos_id: int = meta["eos_id"]
        self.fingerprint: str = meta["content_hash"]  # identifies the data exactly (the proxy cache's key uses it)
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
