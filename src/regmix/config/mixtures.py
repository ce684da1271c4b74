"""Config of the mixtures and baselines stages: RegMix's Dirichlet sampler and named fixed mixtures."""

from __future__ import annotations

from dataclasses import field
from typing import Annotated

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from .base import Fraction, RunName, Weights, config_dataclass, fail

BUILT_IN_BASELINES = ("prior", "uniform", "truth")  # written by the baselines stage (truth: only with a known w*)


@config_dataclass
class MixtureConfig:
    """RegMix's sampler settings (paper section 3 and its `synthesize_mixture.py`)."""

    temperature: PositiveFloat = 1.0  # prior ** temperature before the Dirichlet; < 1 flattens the prior
    min_strength: PositiveFloat = 0.1  # Dirichlet concentration, sampled log-uniformly in [min, max]
    max_strength: PositiveFloat = 5.0
    max_epochs: PositiveFloat = 4.0  # a domain may be seen at most this many times by one model
    min_weight: Fraction = 0.001  # smaller weights are zeroed (sparse mixtures, as in the paper)
    decimals: Annotated[int, Field(ge=1, le=15)] = 3  # weights are rounded, which is also what dedup compares
    max_tries: PositiveInt = 10_000  # rejections allowed per mixture before giving up
    prior: Weights | None = None  # a fixed prior {domain: weight} (the paper's token prior); None: the measured one

    @model_validator(mode="after")
    def _check(self):
        if self.min_strength > self.max_strength:
            fail(
                f"is above max_strength ({self.max_strength})",
                "give min_strength <= max_strength (equal: one fixed strength)",
                "min_strength",
                self.min_strength,
            )
        return self


@config_dataclass
class BaselinesParams:
    # name -> {domain: weight}, normalized by the baselines stage
    mixtures: dict[RunName, Weights] = field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self):
        for name in self.mixtures:
            if name in BUILT_IN_BASELINES:
                fail(
                    "is the name of a built-in baseline",
                    f"rename the mixture (built-in: {', '.join(BUILT_IN_BASELINES)})",
                    f"mixtures.{name}",
                    self.mixtures[name],
                )
        return self
