"""Encode every domain of a layout into packed token arrays, with counts, the token prior and a content hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tqdm import tqdm

from ..config.data import TokenizerConfig
from ..errors import InputError
from ..files import atomic_path, write_json
from ..formats import write_mixture_yaml
from ..hashing import files_hash
from ..layout import Layout, read_texts
from ..token_store import token_dtype
from .tokenizer import load_tokenizer, train_bpe


def encode_domain(tok: Tokenizer, paths: list[Path], eos_id: int, batch_size: int) -> np.ndarray:
    """All documents of one domain, encoded and packed with an EOS after each."""
    dtype = token_dtype(tok.get_vocab_size())
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
                raise InputError(
                    str(paths[0]), f"domain {domain!r} ({split}) has no tokens", "add documents or remove the domain"
                )
            (tmp / split).mkdir(exist_ok=True)
            np.save(tmp / split / f"{domain}.npy", ids)
            counts.setdefault(split, {})[domain] = int(ids.size)
        arrays = [f"{split}/{domain}.npy" for split, domain, _ in jobs]
        write_json(
            tmp / "counts.json",
            {
                "vocab_size": tok.get_vocab_size(),
                "eos_id": eos_id,
                **counts,
                "content_hash": files_hash(tmp, ["tokenizer.json", *arrays]),
            },
        )
        total = sum(counts["train"].values())
        write_mixture_yaml(tmp / "prior.yaml", {d: n / total for d, n in counts["train"].items()}, target)
    return counts
