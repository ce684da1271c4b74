"""The unigram baseline: what a model that knows only token frequencies scores on a domain."""

from __future__ import annotations

import numpy as np

from ..token_store import TokenStore


def unigram_loss(store: TokenStore, domain: str, split: str = "valid") -> float:
    """Cross-entropy (nats per token) of `domain`'s `split` under the add-one unigram of all training tokens.

    A proxy whose loss is not well below this has learned little beyond token frequencies.
    """
    counts = np.ones(store.vocab_size)
    for d in store.train_domains:
        counts += np.bincount(np.asarray(store.array("train", d)[:], dtype=np.int64), minlength=store.vocab_size)
    logp = np.log(counts / counts.sum())
    tokens = np.asarray(store.array(split, domain)[:], dtype=np.int64)[1:]  # as the models: every token but the first
    return float(-logp[tokens].mean())
