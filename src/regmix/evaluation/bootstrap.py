"""Paired bootstrap over test documents and seeds: intervals for each mixture's loss and for differences between
mixtures, and for the rank correlation of the transfer check."""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, rankdata, spearmanr


def resampled_losses(nll: dict[str, np.ndarray], tokens: np.ndarray, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Each mixture's loss on `n_boot` resamples of the documents and of the seeds (the same for all mixtures).

    `nll[name]` is a mixture's summed NLL per document, one row per seed (a 1-D array: one seed), and `tokens`
    the predicted tokens per document (the same documents and tokenizer for every model, so the resamples pair
    the mixtures). A mixture's loss is the mean over its (resampled) seeds of sum(nll) / sum(tokens). Seeds are
    resampled by index, jointly: seed s of every mixture shares its initialisation and data-order stream.
    """
    rng = np.random.default_rng(seed)
    rows = {name: np.atleast_2d(np.asarray(v, dtype=float)) for name, v in nll.items()}
    seeds = {v.shape[0] for v in rows.values()}
    if len(seeds) != 1:
        raise ValueError(f"every mixture needs the same number of seeds, got {sorted(seeds)}")
    (k,) = seeds
    n = len(tokens)
    out: dict[str, list] = {name: [] for name in rows}
    for start in range(0, n_boot, 100):  # in blocks: a resample is a row of n document counts
        b = min(100, n_boot - start)
        counts = rng.multinomial(n, np.full(n, 1 / n), size=b)  # times each document is drawn
        picks = rng.integers(0, k, size=(b, k)) if k > 1 else np.zeros((b, 1), dtype=int)  # seeds drawn
        denom = counts @ tokens
        for name, v in rows.items():
            per_seed = (counts @ v.T) / denom[:, None]  # (b, seeds)
            out[name].append(np.take_along_axis(per_seed, picks, axis=1).mean(axis=1))
    return {name: np.concatenate(parts) for name, parts in out.items()}


def interval(samples: np.ndarray, level: float = 0.95) -> list[float]:
    """The percentile interval of bootstrap samples."""
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def paired_comparison(
    nll: dict[str, np.ndarray], tokens: np.ndarray, ours: str, n_boot: int = 2000, seed: int = 0
) -> dict:
    """Loss of each mixture (mean over its seeds) with its 95% CI, `ours` minus each other mixture with its CI
    (paired resamples of documents and seeds), and the gap closure (L_prior - L_ours) / (L_prior - L_truth) when
    both a `prior` and a `truth` mixture are given. `nll` as in `resampled_losses`."""
    rows = {name: np.atleast_2d(np.asarray(v, dtype=float)) for name, v in nll.items()}
    by_seed = {name: (v.sum(axis=1) / tokens.sum()).tolist() for name, v in rows.items()}
    loss = {name: float(np.mean(s)) for name, s in by_seed.items()}
    boot = resampled_losses(rows, tokens, n_boot, seed)
    out: dict = {
        "documents": len(tokens),
        "seeds": next(iter(rows.values())).shape[0] if rows else 0,
        "loss": loss,
        "loss_ci95": {name: interval(b) for name, b in boot.items()},
        "loss_by_seed": by_seed,
    }
    if ours in rows:
        others = [n for n in rows if n != ours]
        out["minus"] = {n: loss[ours] - loss[n] for n in others}
        out["minus_ci95"] = {n: interval(boot[ours] - boot[n]) for n in others}
        if "prior" in rows and "truth" in rows and loss["prior"] != loss["truth"]:
            closure = (boot["prior"] - boot[ours]) / (boot["prior"] - boot["truth"])
            out["gap_closure"] = (loss["prior"] - loss[ours]) / (loss["prior"] - loss["truth"])
            out["gap_closure_ci95"] = interval(closure)
    return out


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def correlation(predicted: np.ndarray, actual: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict:
    """Spearman and Pearson correlation of `predicted` and `actual` (one entry per model) with 95% bootstrap
    intervals over the models (resampled with replacement; resamples with fewer than 3 distinct models or a
    constant side are skipped)."""
    predicted, actual = np.asarray(predicted, dtype=float), np.asarray(actual, dtype=float)
    n = len(actual)
    out: dict = {"models": n}
    if n < 3:
        return out
    out["spearman"] = float(spearmanr(predicted, actual)[0])
    out["pearson"] = float(pearsonr(predicted, actual)[0])
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    p, a = predicted[idx], actual[idx]
    distinct = 1 + (np.diff(np.sort(idx, axis=1), axis=1) > 0).sum(axis=1)
    keep = (distinct >= 3) & (np.ptp(p, axis=1) > 0) & (np.ptp(a, axis=1) > 0)
    if keep.any():  # Spearman's rho is Pearson's r of the ranks (ties: average ranks)
        rho = _row_pearson(rankdata(p[keep], axis=1), rankdata(a[keep], axis=1))
        out["spearman_ci95"], out["pearson_ci95"] = interval(rho), interval(_row_pearson(p[keep], a[keep]))
    return out
