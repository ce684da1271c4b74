"""Regression and simulation figures (matplotlib, Agg): predicted vs true, the Spearman heatmap,
prior vs optimal mixture with its bootstrap band, and the histogram of simulated losses."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .io import atomic_path  # noqa: E402


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        # No version tag: the PNG bytes then depend only on the data (reproducible DVC outputs).
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png", metadata={"Software": None})
    plt.close(fig)


def _short(name: str) -> str:
    """Readable domain/target labels: drop the paper's `metric/`, `the_pile_` and `_val_loss` parts."""
    return name.removeprefix("metric/").removeprefix("the_pile_").removesuffix("_val_loss")


def predicted_vs_true(path, true: np.ndarray, pred: np.ndarray, rho: float, title: str) -> None:
    """Scatter of held-out predictions against the true loss, with the identity line and rho."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(true, pred, s=10, alpha=0.6)
    lo, hi = float(min(np.min(true), np.min(pred))), float(max(np.max(true), np.max(pred)))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
    ax.set_xlabel("true loss")
    ax.set_ylabel("predicted loss (held out)")
    ax.set_title(f"{_short(title)}\nSpearman rho = {100 * rho:.2f}", fontsize=9)
    _save(fig, path)


def correlation_heatmap(path, table: pd.DataFrame, alpha: float = 0.05) -> None:
    """Domain weight x target loss Spearman rho; cells significant after correction are starred."""
    rho = table.pivot(index="domain", columns="target", values="rho")
    p = table.pivot(index="domain", columns="target", values="p_corrected")
    order_d = list(dict.fromkeys(table["domain"]))
    order_t = list(dict.fromkeys(table["target"]))
    rho, p = rho.loc[order_d, order_t], p.loc[order_d, order_t]
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * len(order_t), 1.0 + 0.4 * len(order_d)))
    im = ax.imshow(rho.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(len(order_d)):
        for j in range(len(order_t)):
            v = rho.iat[i, j]
            if np.isfinite(v):
                star = "*" if p.iat[i, j] < alpha else ""
                ax.text(j, i, f"{v:.2f}{star}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(order_t)), [_short(t) for t in order_t], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(order_d)), [_short(d) for d in order_d], fontsize=7)
    ax.set_xlabel("validation loss")
    ax.set_ylabel("training weight")
    ax.set_title(f"Spearman rho (* corrected p < {alpha})", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    _save(fig, path)


def mixture_band(path, band: pd.DataFrame) -> None:
    """Prior vs optimal weight per domain, with the bootstrap band of the optimal weight."""
    y = np.arange(len(band))
    fig, ax = plt.subplots(figsize=(6, 1.0 + 0.3 * len(band)))
    ax.barh(y - 0.2, band["prior"], height=0.4, label="prior", color="C7")
    err = np.vstack([band["optimal"] - band["low"], band["high"] - band["optimal"]]).clip(min=0)
    ax.barh(y + 0.2, band["optimal"], height=0.4, xerr=err, label="optimal (95% bootstrap band)", color="C0",
            error_kw={"elinewidth": 1, "capsize": 2})
    ax.set_yticks(y, [_short(d) for d in band["domain"]], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("weight")
    ax.legend(fontsize=7)
    _save(fig, path)


def loss_histogram(path, edges: np.ndarray, counts: np.ndarray, top_k_max: float, prior_loss: float | None = None) -> None:
    """Histogram of predicted losses over the candidates, with the top-k cut (and the prior) marked."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.stairs(counts, edges, fill=True, alpha=0.6)
    ax.axvline(top_k_max, color="C3", lw=1, label="top-k cut")
    if prior_loss is not None:
        ax.axvline(prior_loss, color="C2", lw=1, ls="--", label="prior's prediction")
    ax.set_xlabel("predicted loss")
    ax.set_ylabel("candidates")
    ax.legend(fontsize=7)
    _save(fig, path)
