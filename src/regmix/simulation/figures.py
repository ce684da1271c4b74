"""Simulation figures: prior vs optimal mixture with its bootstrap band, and the histogram of simulated losses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..plotting import plt, save_figure, short_name


def mixture_band(path, band: pd.DataFrame) -> None:
    """Prior vs optimal weight per domain, with the bootstrap band of the optimal weight."""
    y = np.arange(len(band))
    fig, ax = plt.subplots(figsize=(6, 1.0 + 0.3 * len(band)))
    ax.barh(y - 0.2, band["prior"], height=0.4, label="prior", color="C7")
    err = np.vstack([band["optimal"] - band["low"], band["high"] - band["optimal"]]).clip(min=0)
    ax.barh(
        y + 0.2,
        band["optimal"],
        height=0.4,
        xerr=err,
        label="optimal (95% bootstrap band)",
        color="C0",
        error_kw={"elinewidth": 1, "capsize": 2},
    )
    ax.set_yticks(y, [short_name(d) for d in band["domain"]], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("weight")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def loss_histogram(
    path, edges: np.ndarray, counts: np.ndarray, top_k_max: float, prior_loss: float | None = None
) -> None:
    """Histogram of predicted losses over the candidates, with the top-k cut (and the prior) marked."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.stairs(counts, edges, fill=True, alpha=0.6)
    ax.axvline(top_k_max, color="C3", lw=1, label="top-k cut")
    if prior_loss is not None:
        ax.axvline(prior_loss, color="C2", lw=1, ls="--", label="prior's prediction")
    ax.set_xlabel("predicted loss")
    ax.set_ylabel("candidates")
    ax.legend(fontsize=7)
    save_figure(fig, path)
