"""Config of the regression stage: the candidate models, cross-validation, LightGBM, GP and significance settings."""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Literal, get_args

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from .base import Seed, config_dataclass, fail

Member = Literal["linear", "lightgbm", "lightgbm_reg", "loglinear", "gp", "gp_sqrt"]  # models an ensemble can average
DomainMember = Literal["linear", "loglinear", "gp", "gp_sqrt"]  # models of one domain's loss in the composite
Model = Literal[Member, "ensemble", "composite"]
MODEL_NAMES: tuple[str, ...] = (*get_args(Member), "ensemble", "composite")
Share = Annotated[float, Field(gt=0, le=1)]  # in (0, 1]


@config_dataclass
class LightGBMConfig:
    """The paper's LightGBM settings (its notebook: 1000 rounds, learning rate 0.01, seed 42)."""

    n_estimators: PositiveInt = 1000
    learning_rate: PositiveFloat = 0.01
    num_leaves: Annotated[int, Field(ge=2)] = 31
    min_child_samples: PositiveInt = 20
    subsample: Share = 1.0  # row fraction per round (bagging every round when < 1)
    colsample: Share = 1.0  # feature fraction per tree
    seed: Seed = 42


@config_dataclass
class GPConfig:
    """Gaussian processes `gp` (on log(w + eps)) and `gp_sqrt` (on sqrt(w))."""

    eps: PositiveFloat = 0.001  # the paper's weights are rounded to 0.001, so this is "one rounding step"
    ard: bool = True  # one length scale per domain: irrelevant domains are learned away
    length_scale: PositiveFloat = 1.0  # the optimiser's start, in units of sqrt(domains) x each feature's spread
    max_iter: PositiveInt = 200  # L-BFGS-B iterations for the hyper-parameters


@config_dataclass
class SignificanceConfig:
    """OLS, Spearman heatmap and interaction tests (see `regmix.significance`)."""

    log_weights: bool = True  # regress on log(w + eps); False: raw weights without intercept
    eps: PositiveFloat = 0.001
    correction: Literal["holm", "fdr_bh"] = "holm"  # fdr_bh: Benjamini-Hochberg
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    cov_type: Literal["HC0", "HC1", "HC2", "HC3"] = "HC3"  # heteroscedasticity-robust standard errors
    interactions: bool = True  # test every pair of domains for an interaction term


def _unique(values: list[str], name: str) -> None:
    if len(set(values)) != len(values):
        fail("repeats a model", "list each model once", name, values)


@config_dataclass
class RegressionConfig:
    """Every knob of the regression stage; filled from params.yaml's `regression:` section."""

    candidates: Annotated[list[Model], Field(min_length=1)] = field(
        default_factory=lambda: ["linear", "lightgbm", "lightgbm_reg", "loglinear", "gp", "gp_sqrt", "ensemble"]
    )  # not composite: it needs every training domain's loss, which a losses CSV may lack
    ensemble_members: Annotated[list[Member], Field(min_length=1)] = field(
        default_factory=lambda: ["gp", "gp_sqrt", "lightgbm_reg"]
    )
    # the composite's model of each training domain's loss: the mean of these
    composite_members: Annotated[list[DomainMember], Field(min_length=1)] = field(
        default_factory=lambda: ["gp", "gp_sqrt"]
    )
    folds: Annotated[int, Field(ge=2)] = 5  # outer k-fold CV (the benchmark uses 10)
    inner_folds: Annotated[int, Field(ge=2)] = 3  # inner k-fold CV for the nested choice
    nested: bool = True  # report the honest accuracy of the model choice itself
    # resamples of the CV predictions for CIs and the paired test (fewer than 10 give no usable CI)
    n_bootstrap: Annotated[int, Field(ge=10)] = 1000
    seed: Seed = 0
    threads: PositiveInt = 1  # LightGBM threads (fixed, so results are reproducible; more rarely help on few rows)
    figures: bool = True
    lightgbm: LightGBMConfig = field(default_factory=LightGBMConfig)  # the paper's baseline
    lightgbm_reg: LightGBMConfig = field(
        default_factory=lambda: LightGBMConfig(
            n_estimators=600,
            learning_rate=0.025,
            num_leaves=8,
            min_child_samples=5,
            subsample=0.8,
            colsample=0.8,
            seed=0,
        )
    )
    gp: GPConfig = field(default_factory=GPConfig)
    significance: SignificanceConfig = field(default_factory=SignificanceConfig)

    @model_validator(mode="after")
    def _check(self):
        _unique(self.candidates, "candidates")
        _unique(self.ensemble_members, "ensemble_members")
        _unique(self.composite_members, "composite_members")
        return self
