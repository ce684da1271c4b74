"""Paired bootstrap over test documents: intervals for each model's loss and for differences between models."""

from __future__ import annotations

import numpy as np


def resampled_losses(nll: dict[str, np.ndarray], tokens: np.ndarray, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Each model's loss, sum(nll) / sum(tokens), on `n_boot` resamples of the documents (the same for all models).

    `nll[name]` is a model's summed NLL per document and `tokens` the predicted tokens per document
    (the same documents and tokenizer for every model, so the resamples pair the models).
    """
    rng = np.random.default_rng(seed)
    n = len(tokens)
    out: dict[str, list] = {name: [] for name in nll}
    for start in range(0, n_boot, 100):  # in blocks: a resample is a row of n document counts
        counts = rng.multinomial(n, np.full(n, 1 / n), size=min(100, n_boot - start))  # times each document is drawn
        denom = counts @ tokens
        for name, v in nll.items():
            out[name].append(counts @ v / denom)
    return {name: np.concatenate(parts) for name, parts in out.items()}


def interval(samples: np.ndarray, level: float = 0.95) -> list[float]:
    """The percentile interval of bootstrap samples."""
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def paired_comparison(
    nll: dict[str, np.ndarray], tokens: np.ndarray, ours: str, n_boot: int = 2000, seed: int = 0
) -> dict:
    """Loss of each model with its 95% CI, `ours` minus each other model with its CI (paired resamples), and the
    gap closure (L_prior - L_ours) / (L_prior - L_truth) when both a `prior` and a `truth` model are given."""
    loss = {name: float(v.sum() / tokens.sum()) for name, v in nll.items()}
    boot = resampled_losses(nll, tokens, n_boot, seed)
    out: dict = {
        "documents": len(tokens),
        "loss": loss,
        "loss_ci95": {name: interval(b) for name, b in boot.items()},
    }
    if ours in nll:
        others = [n for n in nll if n != ours]
        out["minus"] = {n: loss[ours] - loss[n] for n in others}
        out["minus_ci95"] = {n: interval(boot[ours] - boot[n]) for n in others}
        if "prior" in nll and "truth" in nll and loss["prior"] != loss["truth"]:
            closure = (boot["prior"] - boot[ours]) / (boot["prior"] - boot["truth"])
            out["gap_closure"] = (loss["prior"] - loss[ours]) / (loss["prior"] - loss["truth"])
            out["gap_closure_ci95"] = interval(closure)
    return out
