"""Report figures: the proxy mixtures and curves, the compared mixtures, the large models' curves."""

from __future__ import annotations

import numpy as np

from ..plotting import plt, save_figure


def mixture_distributions(path, mixtures: list[dict[str, float]], prior: dict[str, float]) -> None:
    """Box plot of each domain's weight over the proxy mixtures, with the token prior marked."""
    domains = list(prior)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(domains), 4))
    ax.boxplot([[m[d] for m in mixtures] for d in domains], showfliers=True, flierprops={"markersize": 2})
    ax.scatter(
        range(1, len(domains) + 1), [prior[d] for d in domains], color="C3", marker="D", zorder=3, label="token prior"
    )
    ax.set_xticks(range(1, len(domains) + 1), domains, rotation=45, ha="right")
    ax.set_ylabel("weight")
    ax.set_title(f"{len(mixtures)} proxy mixtures")
    ax.legend()
    save_figure(fig, path)


def proxy_curves(path, curves: dict[int, list[tuple[int, float]]], target: str, unigram: float) -> None:
    """Target validation loss against step, one line per proxy, beside a unigram model's; proxies evaluated
    only at the end (`eval_every: 0`) give a histogram of their final losses instead."""
    fig, ax = plt.subplots(figsize=(6, 4))
    if all(len(points) == 1 for points in curves.values()):
        ax.hist([points[-1][1] for points in curves.values()], bins=20, color="C0", alpha=0.7)
        ax.axvline(unigram, color="C3", ls="--", label=f"unigram ({unigram:.3f})")
        ax.set_xlabel(f"final {target} validation loss")
        ax.set_ylabel("proxies")
    else:
        for points in curves.values():
            steps, losses = zip(*points, strict=True)
            ax.plot(steps, losses, color="C0", alpha=0.3, lw=1, marker="." if len(steps) < 3 else None)
        ax.axhline(unigram, color="C3", ls="--", label=f"unigram ({unigram:.3f})")
        ax.set_xlabel("step")
        ax.set_ylabel(f"{target} validation loss")
    ax.set_title(f"{len(curves)} proxies")
    ax.legend()
    save_figure(fig, path)


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
    save_figure(fig, path)


def large_comparison(path, curves: dict[str, list[tuple[int, float]]], target: str) -> None:
    """Target validation loss of each large model against step."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        steps, losses = zip(*points, strict=True)
        ax.plot(steps, losses, marker="o", ms=3, label=f"{name} ({losses[-1]:.3f})")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{target} validation loss")
    ax.legend()
    save_figure(fig, path)


def transfer(path, points: list[dict], stats: dict, target: str) -> None:
    """The transfer check: the regression's prediction (proxy scale) against each large model's test loss,
    validation models in grey and the named runs marked."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    held = [p for p in points if p["kind"] == "validation"]
    if held:
        ax.scatter([p["predicted"] for p in held], [p["actual"] for p in held], color="0.6", label="random mixtures")
    for i, p in enumerate(p for p in points if p["kind"] == "run"):
        ax.scatter(p["predicted"], p["actual"], color=f"C{i}", marker="D", s=50, zorder=3, label=p["label"])
    ax.set_xlabel(f"predicted {target} loss (regression on the proxies)")
    ax.set_ylabel(f"large model's {target} test loss")
    if "spearman" in stats:
        ax.set_title(f"{stats['models']} held-out mixtures: Spearman {stats['spearman']:.3f}")
    ax.legend(fontsize=8)
    save_figure(fig, path)
