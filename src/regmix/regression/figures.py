"""Regression figures: held-out predictions against the true loss, and the Spearman heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..plotting import plt, save_figure, short_name


def predicted_vs_true(path, true: np.ndarray, pred: np.ndarray, rho: float, title: str) -> None:
    """Scatter of held-out predictions against the true loss, with the identity line and rho."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(true, pred, s=10, alpha=0.6)
    lo, hi = float(min(np.min(true), np.min(pred))), float(max(np.max(true), np.max(pred)))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
    ax.set_xlabel("true loss")
    ax.set_ylabel("predicted loss (held out)")
    ax.set_title(f"{short_name(title)}\nSpearman rho = {100 * rho:.2f}", fontsize=9)
    save_figure(fig, path)


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
    ax.set_xticks(range(len(order_t)), [short_name(t) for t in order_t], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(order_d)), [short_name(d) for d in order_d], fontsize=7)
    ax.set_xlabel("validation loss")
    ax.set_ylabel("training weight")
    ax.set_title(f"Spearman rho (* corrected p < {alpha})", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    save_figure(fig, path)
