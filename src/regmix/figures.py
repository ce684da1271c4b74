"""Pipeline figures (matplotlib, Agg): mixture distributions, proxy curves, large-model comparison."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_path  # noqa: E402


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def mixture_distributions(path, mixtures: list[dict[str, float]], prior: dict[str, float]) -> None:
    """Box plot of each domain's weight over the proxy mixtures, with the token prior marked."""
    domains = list(prior)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(domains), 4))
    ax.boxplot([[m[d] for m in mixtures] for d in domains], showfliers=True, flierprops={"markersize": 2})
    ax.scatter(range(1, len(domains) + 1), [prior[d] for d in domains], color="C3", marker="D", zorder=3, label="token prior")
    ax.set_xticks(range(1, len(domains) + 1), domains, rotation=45, ha="right")
    ax.set_ylabel("weight")
    ax.set_title(f"{len(mixtures)} proxy mixtures")
    ax.legend()
    _save(fig, path)


def proxy_curves(path, curves: dict[int, list[tuple[int, float]]], target: str) -> None:
    """Target validation loss against step, one line per proxy."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for points in curves.values():
        steps, losses = zip(*points)
        ax.plot(steps, losses, color="C0", alpha=0.3, lw=1, marker="." if len(steps) < 3 else None)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{target} validation loss")
    ax.set_title(f"{len(curves)} proxies")
    _save(fig, path)


def mixture_bars(path, mixtures: dict[str, dict[str, float]]) -> None:
    """Grouped bars: the weight of each domain in each named mixture (e.g. prior, RegMix, w*)."""
    names = list(mixtures)
    domains = list(next(iter(mixtures.values())))
    x = np.arange(len(domains))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(domains), 4))
    for i, n in enumerate(names):
        ax.bar(x + i * width - 0.4 + width / 2, [mixtures[n][d] for d in domains], width, label=n)
    ax.set_xticks(x, domains, rotation=45, ha="right")
    ax.set_ylabel("weight")
    ax.legend()
    _save(fig, path)


def large_comparison(path, curves: dict[str, list[tuple[int, float]]], target: str) -> None:
    """Target validation loss of each large model against step."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        steps, losses = zip(*points)
        ax.plot(steps, losses, marker="o", ms=3, label=f"{name} ({losses[-1]:.3f})")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{target} validation loss")
    ax.legend()
    _save(fig, path)
