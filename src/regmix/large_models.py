"""Every large model the pipeline trains, and where it lives (one place for the layout the stages share).

Each run of `large.runs` is trained once per seed of `large.seeds` into `models/large/<run>/seed-<seed>/`
(stage `large@<run>-<seed>`); each id of `validation.runs` into `models/large/validation/<id>/` (stage
`validate@<id>`, the transfer check, trained with `seed`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config.params import Params


@dataclass(frozen=True)
class LargeModel:
    label: str  # "regmix-0" (a run and its seed) or "validation-3"
    run: str | None  # the run of large.runs; None for a validation model
    seed: int
    folder: str  # below models/large (and below the scores folder)
    mixture: str  # the mixture file it was trained on

    @property
    def validation(self) -> bool:
        return self.run is None


def large_models(params: Params) -> list[LargeModel]:
    """The runs x seeds, then the validation models, in the order of params.yaml."""
    out = [
        LargeModel(f"{run}-{seed}", run, seed, f"{run}/seed-{seed}", f"models/runs/{run}.yaml")
        for run in params.large.runs
        for seed in params.large.seeds
    ]
    out += [
        LargeModel(f"validation-{i}", None, params.seed, f"validation/{i}", f"data/mixtures/validation/{i}.yaml")
        for i in params.validation.runs
    ]
    return out
