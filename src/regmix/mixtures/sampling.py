"""RegMix's Dirichlet sampler (proxy mixtures and simulation candidates) and per-domain usage caps.

A mixture is a dict {domain: weight} summing to 1; its file formats are in `regmix.formats`.
"""

from __future__ import annotations

import math

import numpy as np

from ..config.mixtures import MixtureConfig
from ..errors import InputError
from ..formats import domain_of, validate_mixture


def resolve_prior(cfg: MixtureConfig, measured: dict[str, float]) -> dict[str, float]:
    """The prior to sample around: `cfg.prior` (validated, normalized; `train_<domain>` keys work too) if set,
    else the measured token prior."""
    if not cfg.prior:
        return measured
    return validate_mixture(
        {domain_of(k): w for k, w in cfg.prior.items()}, list(measured), "params.yaml, field mixtures.prior"
    )


def usage_caps(counts: dict[str, int], train_tokens: int, max_epochs: float) -> dict[str, float]:
    """Largest weight each domain may take: its tokens times `max_epochs` over the training tokens."""
    return {d: min(1.0, n * max_epochs / train_tokens) for d, n in counts.items()}


def check_caps_feasible(caps: dict[str, float], counts: dict[str, int], train_tokens: int, where: str) -> None:
    """Raise if no mixture at all fits in the caps (the domains hold too few tokens)."""
    if sum(caps.values()) < 1.0:
        raise InputError(
            where,
            f"the domains hold {sum(counts.values()):,} tokens in all ({counts}), too few for "
            f"{train_tokens:,} training tokens within max_epochs",
            "add data, raise mixtures.max_epochs, or lower the number of training tokens",
        )


def _tempered(prior: np.ndarray, temperature: float) -> np.ndarray:
    p = prior**temperature
    return p / p.sum()


def _finish(w: np.ndarray, cfg: MixtureConfig) -> np.ndarray | None:
    """Zero tiny weights, renormalise and round so the rounded weights sum to exactly 1."""
    if not np.all(np.isfinite(w)) or w.sum() <= 0:
        return None
    w = np.where(w < cfg.min_weight, 0.0, w)
    if w.sum() <= 0:
        return None
    w = np.round(w / w.sum(), cfg.decimals)
    w[np.argmax(w)] += 1.0 - w.sum()  # put the rounding residue on the largest weight
    w = np.round(w, cfg.decimals)
    return w if w.min() >= 0 and w.sum() > 0 else None


def sample_mixtures(
    prior: dict[str, float],
    n: int,
    cfg: MixtureConfig,
    seed: int,
    caps: dict[str, float] | None = None,
) -> list[dict[str, float]]:
    """The first `n` RegMix proxy mixtures, deduplicated, within the caps.

    Prefix-stable: mixture i depends only on `seed`, `i` and the mixtures before it, so
    growing `n` keeps the first mixtures unchanged (and their proxies need no retraining).
    """
    domains = list(prior)
    p = _tempered(np.array([prior[d] for d in domains], dtype=float), cfg.temperature)
    cap = np.array([(caps or {}).get(d, 1.0) for d in domains])
    lo, hi = math.log(cfg.min_strength), math.log(cfg.max_strength)
    seen: set[tuple[float, ...]] = set()
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        for _ in range(cfg.max_tries):
            strength = math.exp(rng.uniform(lo, hi))
            w = _finish(rng.dirichlet(np.maximum(p * strength, 1e-300)), cfg)
            if w is None or np.any(w > cap + 1e-9):
                continue
            key = tuple(w.tolist())
            if key not in seen:
                break
        else:
            raise InputError(
                "params.yaml: mixtures",
                f"found no new mixture within the usage caps for mixture {i} after {cfg.max_tries} tries",
                "raise mixtures.max_epochs, lower min_weight, or ask for fewer proxies",
            )
        seen.add(key)
        out.append({d: float(x) for d, x in zip(domains, w, strict=True)})
    return out


def sample_candidates(
    prior: dict[str, float],
    n: int,
    cfg: MixtureConfig,
    seed: int,
    caps: dict[str, float] | None = None,
) -> np.ndarray:
    """`n` candidate mixtures (rows, columns in `prior`'s order) for the simulation, vectorised.

    The same Dirichlet around the prior as `sample_mixtures`, without rounding or dedup;
    rows over a usage cap are dropped, so fewer than `n` rows may come back.
    """
    rng = np.random.default_rng(seed)
    domains = list(prior)
    p = _tempered(np.array([prior[d] for d in domains], dtype=float), cfg.temperature)
    strength = np.exp(rng.uniform(math.log(cfg.min_strength), math.log(cfg.max_strength), size=(n, 1)))
    # Dirichlet via normalised gammas, one concentration per row.
    g = rng.standard_gamma(np.maximum(p[None, :] * strength, 1e-300))
    g[g < 0] = 0
    w = g / np.maximum(g.sum(axis=1, keepdims=True), 1e-300)
    w[w < cfg.min_weight] = 0.0
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    keep = w.sum(axis=1) > 0
    if caps is not None:
        cap = np.array([caps.get(d, 1.0) for d in domains])
        keep &= np.all(w <= cap[None, :] + 1e-9, axis=1)
    return w[keep]


def check_usage(
    mixture: dict[str, float], counts: dict[str, int], train_tokens: int, max_epochs: float, where: str
) -> None:
    """Raise if training on `mixture` would repeat some domain more than `max_epochs` times."""
    for d, w in mixture.items():
        need = w * train_tokens
        if need > counts[d] * max_epochs + 1e-9:
            raise InputError(
                f"{where}, field {d!r}",
                f"weight {w:.4g} asks for {need:,.0f} tokens of {d!r}, which holds {counts[d]:,} tokens "
                f"({need / max(counts[d], 1):.1f} epochs > max_epochs {max_epochs})",
                "lower that weight, raise mixtures.max_epochs, train on fewer tokens, or add data to the domain",
            )
