"""Config of the regression stage: the candidate models, cross-validation, LightGBM, GP and significance settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import InputError

MODEL_NAMES = ("linear", "lightgbm", "lightgbm_reg", "loglinear", "gp", "gp_sqrt", "ensemble")
_WHERE = "params.yaml, field regression."


@dataclass(frozen=True)
class LightGBMConfig:
    """The paper's LightGBM settings (its notebook: 1000 rounds, learning rate 0.01, seed 42)."""

    n_estimators: int = 1000
    learning_rate: float = 0.01
    num_leaves: int = 31
    min_child_samples: int = 20
    subsample: float = 1.0  # row fraction per round (bagging every round when < 1)
    colsample: float = 1.0  # feature fraction per tree
    seed: int = 42

    def __post_init__(self):
        for name in ("subsample", "colsample"):
            if not 0 < getattr(self, name) <= 1:
                raise InputError(
                    _WHERE + f"lightgbm.{name}",
                    f"value {getattr(self, name)} is not in (0, 1]",
                    "use a fraction, e.g. 0.8",
                )
        _positive(self.n_estimators, "lightgbm.n_estimators")
        _positive(self.learning_rate, "lightgbm.learning_rate")
        _positive(self.num_leaves - 1, "lightgbm.num_leaves", shown=self.num_leaves, need="an integer >= 2")
        _positive(self.min_child_samples, "lightgbm.min_child_samples")


@dataclass(frozen=True)
class GPConfig:
    """Gaussian processes `gp` (on log(w + eps)) and `gp_sqrt` (on sqrt(w))."""

    eps: float = 0.001  # the paper's weights are rounded to 0.001, so this is "one rounding step"
    ard: bool = True  # one length scale per domain: irrelevant domains are learned away
    length_scale: float = 1.0  # the optimiser's start, in units of sqrt(domains) x each feature's spread
    max_iter: int = 200  # L-BFGS-B iterations for the hyper-parameters

    def __post_init__(self):
        _positive(self.eps, "gp.eps")
        _positive(self.length_scale, "gp.length_scale")
        _positive(self.max_iter, "gp.max_iter")


@dataclass(frozen=True)
class SignificanceConfig:
    """OLS, Spearman heatmap and interaction tests (see `regmix.significance`)."""

    log_weights: bool = True  # regress on log(w + eps); False: raw weights without intercept
    eps: float = 0.001
    correction: str = "holm"  # holm | fdr_bh (Benjamini-Hochberg)
    alpha: float = 0.05
    cov_type: str = "HC3"  # heteroscedasticity-robust standard errors
    interactions: bool = True  # test every pair of domains for an interaction term

    def __post_init__(self):
        if self.correction not in ("holm", "fdr_bh"):
            raise InputError(
                _WHERE + "significance.correction", f"value {self.correction!r} is not supported", "use holm or fdr_bh"
            )
        if not 0 < self.alpha < 1:
            raise InputError(_WHERE + "significance.alpha", f"value {self.alpha} is not in (0, 1)", "use e.g. 0.05")
        if self.cov_type not in ("HC0", "HC1", "HC2", "HC3"):
            raise InputError(
                _WHERE + "significance.cov_type", f"value {self.cov_type!r} is not robust", "use HC0, HC1, HC2 or HC3"
            )
        _positive(self.eps, "significance.eps")


@dataclass(frozen=True)
class RegressionConfig:
    """Every knob of the regression stage; filled from params.yaml's `regression:` section."""

    candidates: list[str] = field(
        default_factory=lambda: ["linear", "lightgbm", "lightgbm_reg", "loglinear", "gp", "gp_sqrt", "ensemble"]
    )
    ensemble_members: list[str] = field(default_factory=lambda: ["gp", "gp_sqrt", "lightgbm_reg"])
    folds: int = 5  # outer k-fold CV (the benchmark uses 10)
    inner_folds: int = 3  # inner k-fold CV for the nested choice
    nested: bool = True  # report the honest accuracy of the model choice itself
    n_bootstrap: int = 1000  # resamples of the CV predictions for CIs and the paired test
    seed: int = 0
    threads: int = 1  # LightGBM threads (fixed, so results are reproducible; more rarely help on a few hundred rows)
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

    def __post_init__(self):
        # Sub-configs may arrive as plain dicts when built by keyword.
        for name, cls in (
            ("lightgbm", LightGBMConfig),
            ("lightgbm_reg", LightGBMConfig),
            ("gp", GPConfig),
            ("significance", SignificanceConfig),
        ):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, _build_sub(cls, value, name))
        object.__setattr__(self, "candidates", list(self.candidates))
        object.__setattr__(self, "ensemble_members", list(self.ensemble_members))
        for key in ("candidates", "ensemble_members"):
            values = getattr(self, key)
            allowed = MODEL_NAMES if key == "candidates" else tuple(m for m in MODEL_NAMES if m != "ensemble")
            for v in values:
                if v not in allowed:
                    raise InputError(
                        _WHERE + key, f"value {v!r} is not a known model", f"use some of: {', '.join(allowed)}"
                    )
            if not values or len(set(values)) != len(values):
                raise InputError(_WHERE + key, f"value {values!r} is empty or repeats a model", "list each model once")
        if self.folds < 2 or self.inner_folds < 2:
            raise InputError(
                _WHERE + "folds",
                f"folds {self.folds} / inner_folds {self.inner_folds} must be >= 2",
                "use e.g. folds: 5, inner_folds: 3",
            )
        if self.n_bootstrap < 10:
            raise InputError(
                _WHERE + "n_bootstrap",
                f"value {self.n_bootstrap} is too small for a CI",
                "use at least 100 (e.g. 1000)",
            )
        _positive(self.threads, "threads")


def _positive(value, name: str, shown=None, need: str = "a number > 0") -> None:
    if not value > 0:
        raise InputError(_WHERE + name, f"value {shown if shown is not None else value!r} is not > 0", f"give {need}")


def _build_sub(cls, data: dict, name: str):
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise InputError(
                _WHERE + f"{name}.{key}",
                f"unknown field (value {data[key]!r})",
                f"use one of: {', '.join(sorted(names))}",
            )
    try:
        return cls(**data)
    except InputError as e:  # name the section it came from (lightgbm and lightgbm_reg share a class)
        field_name = e.where.removeprefix(_WHERE).split(".", 1)[-1]
        raise InputError(_WHERE + f"{name}.{field_name}", e.problem, e.fix) from None
