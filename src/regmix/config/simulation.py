"""Config of the simulation stage: how many candidates, the top k, the bootstrap band."""

from __future__ import annotations

from dataclasses import field

from pydantic import NonNegativeInt, PositiveInt, model_validator

from .base import Seed, config_dataclass, fail
from .mixtures import MixtureConfig


@config_dataclass
class SimulationConfig:
    """Every knob of the simulation; filled from params.yaml's `simulation:` section."""

    n_candidates: PositiveInt = 1_000_000  # the paper's setting
    top_k: PositiveInt = 100  # the paper's setting: the optimal mixture is the mean of the best 100
    n_bootstrap: NonNegativeInt = 10  # refits on resampled proxies for the band (0: no band)
    bootstrap_candidates: PositiveInt = 100_000  # candidates per bootstrap refit (the first ones of the main set)
    chunk_size: PositiveInt = 200_000  # candidates predicted at once (bounds memory)
    threads: PositiveInt = 1  # chunks predicted at once, in threads (the predictions do not depend on it)
    histogram_bins: PositiveInt = 100
    seed: Seed = 0
    figures: bool = True
    dirichlet: MixtureConfig = field(default_factory=MixtureConfig)  # the sampler settings (params.yaml `mixtures:`)

    @model_validator(mode="after")
    def _check(self):
        if self.top_k > self.n_candidates:
            fail(
                f"is above n_candidates ({self.n_candidates})", "lower top_k or raise n_candidates", "top_k", self.top_k
            )
        if self.n_bootstrap and self.top_k > self.bootstrap_candidates:
            fail(
                f"is above bootstrap_candidates ({self.bootstrap_candidates}), which each bootstrap refit ranks",
                "lower top_k, raise bootstrap_candidates, or set n_bootstrap: 0",
                "top_k",
                self.top_k,
            )
        return self
