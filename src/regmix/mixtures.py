"""Data mixtures: RegMix's Dirichlet sampler, usage caps, and the paper's CSV and YAML formats.

A mixture is a dict {domain: weight} summing to 1. On disk:
- CSV (the paper's `train_mixture_1m.csv`): `index` then one `train_<domain>` column per domain.
- YAML (the paper's `mixture_config/*.yaml`): `train: {train_<domain>: w}`, `valid: {...}`.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .io import read_yaml, write_text, write_yaml

TRAIN_PREFIX = "train_"
VALID_PREFIX = "valid_"


@dataclass(frozen=True)
class MixtureConfig:
    """RegMix's sampler settings (paper section 3 and its `synthesize_mixture.py`)."""

    temperature: float = 1.0  # prior ** temperature before the Dirichlet; < 1 flattens the prior
    min_strength: float = 0.1  # Dirichlet concentration, sampled log-uniformly in [min, max]
    max_strength: float = 5.0
    max_epochs: float = 4.0  # a domain may be seen at most this many times by one model
    min_weight: float = 0.001  # smaller weights are zeroed (sparse mixtures, as in the paper)
    decimals: int = 3  # weights are rounded, which is also what deduplication compares
    max_tries: int = 10_000  # rejections allowed per mixture before giving up
    prior: dict[str, float] | None = None  # a fixed prior {domain: weight} (the paper's token prior); None: the measured one


def resolve_prior(cfg: MixtureConfig, measured: dict[str, float]) -> dict[str, float]:
    """The prior to sample around: `cfg.prior` (validated, normalized) if set, else the measured token prior."""
    if not cfg.prior:
        return measured
    return validate_mixture(cfg.prior, list(measured), "params.yaml, field mixtures.prior")


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
        out.append({d: float(x) for d, x in zip(domains, w)})
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


# ---------------------------------------------------------------- validation and formats


def validate_mixture(weights: dict, domains: list[str], where: str, normalize: bool = True) -> dict[str, float]:
    """Check a {domain: weight} mapping against the known domains; return it complete and normalised."""
    out = {d: 0.0 for d in domains}
    for name, value in weights.items():
        if name not in out:
            raise InputError(
                f"{where}, field {name!r}",
                f"unknown domain {name!r} (value {value!r})",
                f"use one of the domains of the tokenized data: {', '.join(domains)}",
            )
        try:
            w = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{where}, field {name!r}", f"weight {value!r} is not a number", "give a number >= 0")
        if not math.isfinite(w) or w < 0:
            raise InputError(f"{where}, field {name!r}", f"weight {value!r} is negative or not finite", "give a number >= 0")
        out[name] = w
    total = sum(out.values())
    if total <= 0:
        raise InputError(where, "all weights are zero", "give at least one domain a positive weight")
    if normalize:
        out = {d: w / total for d, w in out.items()}
    return out


def check_usage(mixture: dict[str, float], counts: dict[str, int], train_tokens: int, max_epochs: float, where: str) -> None:
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


def mixtures_to_csv(mixtures: list[dict[str, float]], domains: list[str], start_index: int = 1) -> str:
    """The paper's mixture CSV: `index` then `train_<domain>` columns."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["index"] + [TRAIN_PREFIX + d for d in domains])
    for i, m in enumerate(mixtures):
        writer.writerow([start_index + i] + [repr(float(m[d])) for d in domains])
    return buf.getvalue()


def write_mixtures_csv(path: str | Path, mixtures: list[dict[str, float]], domains: list[str], start_index: int = 1) -> None:
    write_text(path, mixtures_to_csv(mixtures, domains, start_index))


def read_mixtures_csv(path: str | Path, domains: list[str] | None = None) -> dict[int, dict[str, float]]:
    """Read the paper's mixture CSV into {index: mixture}, validating every weight."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if "index" not in header:
            raise InputError(str(path), f"no 'index' column (header: {header})", "use the paper's format: index,train_<domain>,...")
        bad = [c for c in header if c != "index" and not c.startswith(TRAIN_PREFIX)]
        if bad:
            raise InputError(f"{path}, column {bad[0]!r}", "mixture columns must be named train_<domain>", "rename the column")
        names = [c[len(TRAIN_PREFIX):] for c in header if c != "index"]
        known = domains or names
        out = {}
        for line, row in enumerate(reader, start=2):
            where = f"{path}, line {line}"
            try:
                index = int(row["index"])
            except (TypeError, ValueError):
                raise InputError(f"{where}, field 'index'", f"index {row['index']!r} is not an integer", "number the rows 1, 2, ...")
            weights = {c[len(TRAIN_PREFIX):]: row[c] for c in header if c != "index"}
            out[index] = validate_mixture(weights, known, where, normalize=False)
    return out


def write_mixture_yaml(path: str | Path, mixture: dict[str, float], target: str | None = None, **extra) -> None:
    """A mixture in the paper's YAML format (`train:` weights, `valid:` the target domain)."""
    doc = {"train": {TRAIN_PREFIX + d: float(w) for d, w in mixture.items()}}
    if target:
        doc["valid"] = {VALID_PREFIX + target: 1.0}
    doc.update(extra)
    write_yaml(path, doc)


def read_mixture_yaml(path: str | Path, domains: list[str]) -> dict[str, float]:
    """Read and validate a mixture YAML (paper format; bare `{domain: w}` also accepted)."""
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise InputError(str(path), f"expected a mapping, found {type(doc).__name__}", "write `train: {train_<domain>: weight}`")
    weights = doc.get("train", doc)
    if not isinstance(weights, dict):
        raise InputError(f"{path}, field 'train'", f"expected a mapping, found {weights!r}", "write `train: {train_<domain>: weight}`")
    named = {(k[len(TRAIN_PREFIX):] if str(k).startswith(TRAIN_PREFIX) else str(k)): v for k, v in weights.items()}
    return validate_mixture(named, domains, str(path))
