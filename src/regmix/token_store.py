"""The tokenized data on disk: packed, memory-mapped token chunks, their counts and a content hash.

Layout: `<root>/tokenizer.json`; `<root>/<split>/<domain>/<chunk>.npy`, one chunk per input file
(its documents concatenated, each followed by the end-of-text token); `<root>/chunks.json`
({split: {domain: [[chunk path, tokens], ...]}}, in the order the chunks make up the domain);
`<root>/counts.json` (vocabulary size, EOS id, tokens per split and domain, and `content_hash`, a
SHA-256 of the tokenizer and every chunk) and `<root>/prior.yaml` (the token prior over training
domains, in the paper's mixture format). `TokenStore.array` shows a domain's chunks as one array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import read_json
from .formats import read_mixture_yaml


def token_dtype(vocab_size: int):
    """The smallest unsigned type that holds every token id."""
    return np.uint16 if vocab_size <= 2**16 else np.uint32


class TokenArray:
    """The chunks of one domain as one read-only 1-D array: `len()`, integer and slice indexing.

    A slice reads only the chunks it overlaps (memory-mapped), so a window that crosses a chunk
    boundary costs what a window inside one chunk does; the result is a numpy array.
    """

    def __init__(self, paths: list[Path], lengths: list[int], dtype):
        self.paths, self.dtype = paths, np.dtype(dtype)
        self.ends = np.cumsum(lengths, dtype=np.int64)
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)

    def _chunk(self, i: int) -> np.ndarray:
        if i not in self._maps:
            self._maps[i] = np.load(self.paths[i], mmap_mode="r")
        return self._maps[i]

    def __getitem__(self, key):
        n = len(self)
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step != 1:
                return self[start:stop][::step]
            if stop <= start:
                return np.zeros(0, dtype=self.dtype)
            first = int(np.searchsorted(self.ends, start, side="right"))
            last = int(np.searchsorted(self.ends, stop - 1, side="right"))
            parts = []
            for i in range(first, last + 1):
                base = int(self.ends[i - 1]) if i else 0
                parts.append(self._chunk(i)[max(start - base, 0) : min(stop, int(self.ends[i])) - base])
            return np.concatenate(parts)
        i = int(key)
        if not -n <= i < n:
            raise IndexError(f"index {key} out of range for {n} tokens")
        i %= n
        c = int(np.searchsorted(self.ends, i, side="right"))
        return self._chunk(c)[i - (int(self.ends[c - 1]) if c else 0)]

    def __array__(self, dtype=None, copy=None):
        return self[:].astype(dtype or self.dtype, copy=False)


class TokenStore:
    """Read-only, memory-mapped access to the arrays written by the tokenize stage."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta = read_json(self.root / "counts.json")
        self.vocab_size: int = meta["vocab_size"]
        self.eos_id: int = meta["eos_id"]
        self.fingerprint: str = meta["content_hash"]  # identifies the data exactly (the proxy cache's key uses it)
        self.counts: dict[str, dict[str, int]] = {s: meta[s] for s in ("train", "valid", "test") if s in meta}
        self._chunks: dict | None = None
        self._arrays: dict[tuple[str, str], TokenArray] = {}

    @property
    def train_domains(self) -> list[str]:
        return list(self.counts["train"])

    @property
    def eval_domains(self) -> list[str]:
        return list(self.counts["valid"])

    @property
    def test_domains(self) -> list[str]:
        """The domains with a held-out test split (in the test-scoring stage's store only)."""
        return list(self.counts.get("test", {}))

    def prior(self) -> dict[str, float]:
        return read_mixture_yaml(self.root / "prior.yaml", self.train_domains)

    def array(self, split: str, domain: str) -> TokenArray:
        """All tokens of one domain's split, as one logical array over its chunks."""
        key = (split, domain)
        if key not in self._arrays:
            if self._chunks is None:
                self._chunks = read_json(self.root / "chunks.json")
            chunks = self._chunks[split][domain]
            self._arrays[key] = TokenArray(
                [self.root / p for p, _ in chunks], [n for _, n in chunks], token_dtype(self.vocab_size)
            )
        return self._arrays[key]
