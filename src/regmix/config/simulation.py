"""Config of the simulation stage: how many candidates, the top k, the bootstrap band."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import InputError
from .mixtures import MixtureConfig

_WHERE = "params.yaml, field simulation."


@dataclass(frozen=True)
class SimulationConfig:
    """Every knob of the simulation; filled from params.yaml's `simulation:` section."""

    n_candidates: int = 1_000_000  # the paper's setting
    top_k: int = 100  # the paper's setting: the optimal mixture is the mean of the best 100
    n_bootstrap: int = 10  # refits on resampled proxies for the band (0: no band)
    bootstrap_candidates: int = 100_000  # candidates per bootstrap refit (the first ones of the main set)
    chunk_size: int = 200_000  # candidates predicted at once (bounds memory)
    histogram_bins: int = 100
    seed: int = 0
    figures: bool = True
    dirichlet: MixtureConfig = field(default_factory=MixtureConfig)  # the sampler settings (params.yaml `mixtures:`)

    def __post_init__(self):
        if isinstance(self.dirichlet, dict):
            names = {f.name for f in dataclasses.fields(MixtureConfig)}
            unknown = [k for k in self.dirichlet if k not in names]
            if unknown:
                raise InputError(
                    _WHERE + f"dirichlet.{unknown[0]}", "unknown field", f"use some of: {', '.join(sorted(names))}"
                )
            object.__setattr__(self, "dirichlet", MixtureConfig(**self.dirichlet))
        for name in ("n_candidates", "top_k", "bootstrap_candidates", "chunk_size", "histogram_bins"):
            if getattr(self, name) < 1:
                raise InputError(_WHERE + name, f"value {getattr(self, name)} is not >= 1", "give a positive integer")
        if self.n_bootstrap < 0:
            raise InputError(
                _WHERE + "n_bootstrap", f"value {self.n_bootstrap} is negative", "use 0 (no band) or more, e.g. 20"
            )
        if self.top_k > min(self.n_candidates, self.bootstrap_candidates):
            raise InputError(
                _WHERE + "top_k",
                f"value {self.top_k} exceeds n_candidates {self.n_candidates} or bootstrap_candidates "
                f"{self.bootstrap_candidates}",
                "lower top_k or raise the candidate counts",
            )
