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


def _draw(
    rng: np.random.Generator, p: np.ndarray, cap: np.ndarray, cfg: MixtureConfig, seen: set[tuple[float, ...]]
) -> np.ndarray | None:
    """One mixture of RegMix's sampler: a log-uniform strength, a Dirichlet around `p`, rounded, within the caps and
    not in `seen`; None after `cfg.max_tries` tries."""
    lo, hi = math.log(cfg.min_strength), math.log(cfg.max_strength)
    for _ in range(cfg.max_tries):
        strength = math.exp(rng.uniform(lo, hi))
        w = _finish(rng.dirichlet(np.maximum(p * strength, 1e-300)), cfg)
        if w is not None and not np.any(w > cap + 1e-9) and tuple(w.tolist()) not in seen:
            return w
    return None


def _sampler(prior: dict[str, float], cfg: MixtureConfig, caps: dict[str, float] | None):
    domains = list(prior)
    p = _tempered(np.array([prior[d] for d in domains], dtype=float), cfg.temperature)
    return domains, p, np.array([(caps or {}).get(d, 1.0) for d in domains])


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
    domains, p, cap = _sampler(prior, cfg, caps)
    seen: set[tuple[float, ...]] = set()
    out = []
    for i in range(n):
        w = _draw(np.random.default_rng([seed, i]), p, cap, cfg, seen)
        if w is None:
            raise InputError(
                "params.yaml: mixtures",
                f"found no new mixture within the usage caps for mixture {i} after {cfg.max_tries} tries",
                "raise mixtures.max_epochs, lower min_weight, or ask for fewer proxies",
            )
        seen.add(tuple(w.tolist()))
        out.append({d: float(x) for d, x in zip(domains, w, strict=True)})
    return out


VALIDATION_STREAM = 1  # the validation mixtures' seed stream: [seed, 1, id], never a proxy's [seed, i]


def sample_validation_mixtures(
    prior: dict[str, float],
    ids: list[int],
    cfg: MixtureConfig,
    seed: int,
    caps: dict[str, float] | None = None,
    exclude: list[dict[str, float]] = (),
) -> dict[int, dict[str, float]]:
    """The held-out mixtures of the transfer check, {id: mixture}: the proxies' sampler with a stream of its own.

    Mixture `id` depends only on `seed`, `id` and the mixtures in `exclude` (the proxies': a draw equal to one is
    drawn again, so no proxy was trained on a validation mixture); other ids leave it unchanged.
    """
    domains, p, cap = _sampler(prior, cfg, caps)
    seen = {tuple(m[d] for d in domains) for m in exclude}
    out = {}
    for i in ids:
        w = _draw(np.random.default_rng([seed, VALIDATION_STREAM, i]), p, cap, cfg, seen)
        if w is None:
            raise InputError(
                "params.yaml: mixtures",
                f"found no mixture within the usage caps for validation run {i} after {cfg.max_tries} tries",
                "raise mixtures.max_epochs or lower min_weight",
            )
        out[i] = {d: float(x) for d, x in zip(domains, w, strict=True)}
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
    domains, p, cap = _sampler(prior, cfg, caps)
    strength = np.exp(rng.uniform(math.log(cfg.min_strength), math.log(cfg.max_strength), size=(n, 1)))
    # Dirichlet via normalised gammas, one concentration per row.
    g = rng.standard_gamma(np.maximum(p[None, :] * strength, 1e-300))
    g[g < 0] = 0
    w = g / np.maximum(g.sum(axis=1, keepdims=True), 1e-300)
    w[w < cfg.min_weight] = 0.0
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    keep = w.sum(axis=1) > 0
    if caps is not None:
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
