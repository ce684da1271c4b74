"""Config of the mixtures and baselines stages: RegMix's Dirichlet sampler and named fixed mixtures."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    prior: dict[str, float] | None = (
        None  # a fixed prior {domain: weight} (the paper's token prior); None: the measured one
    )


@dataclass(frozen=True)
class BaselinesParams:
    mixtures: dict[str, dict[str, float]] = field(
        default_factory=dict
    )  # name -> {domain: weight}, normalized by the baselines stage
