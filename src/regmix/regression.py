"""RegMix's regression: candidate models, honest (nested) cross-validation, fit report, save/load, predict.

The regression maps a training mixture (one weight per domain) to a proxy's validation loss.
Candidates are scikit-learn shaped (`fit`/`predict`, no hidden state) so they can be cloned and
refitted per fold and per bootstrap resample:

- `linear`: ordinary least squares on the weights (the paper's linear baseline).
- `lightgbm`: the paper's LightGBM (1000 rounds, learning rate 0.01), never early-stopped;
  `lightgbm_reg`: a more regularised one (8 leaves, row and feature subsampling, 600 rounds at 0.025).
- `loglinear`: the Data Mixing Laws / Olmix law L(w) = c + exp(b + t . w), least squares.
- `gp`: a Gaussian process on log(w + eps) (ARD RBF + white noise, hyper-parameters by marginal
  likelihood); `gp_sqrt`: the same on sqrt(w).
- `ensemble`: the mean of its members' predictions.

Model choice is by k-fold CV Spearman rho on the training rows only; the reported accuracy of the
choice itself comes from nested CV (the choice in each outer fold uses inner folds of that fold's
training rows), so neither early stopping nor selection ever sees held-out rows.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import least_squares, minimize
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold

from .errors import InputError
from .io import atomic_path, write_json, write_text
from .mixtures import TRAIN_PREFIX

MODEL_NAMES = ("linear", "lightgbm", "lightgbm_reg", "loglinear", "gp", "gp_sqrt", "ensemble")
BASELINES = ("linear", "lightgbm")
METRIC_PREFIX = "metric/"
MODEL_FILE = "model.pkl"
META_FILE = "model.json"
TRAIN_FILE = "training_data.csv"
_WHERE = "params.yaml, field regression."


# ---------------------------------------------------------------- configuration


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
                raise InputError(_WHERE + f"lightgbm.{name}", f"value {getattr(self, name)} is not in (0, 1]", "use a fraction, e.g. 0.8")
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
            raise InputError(_WHERE + "significance.correction", f"value {self.correction!r} is not supported", "use holm or fdr_bh")
        if not 0 < self.alpha < 1:
            raise InputError(_WHERE + "significance.alpha", f"value {self.alpha} is not in (0, 1)", "use e.g. 0.05")
        if self.cov_type not in ("HC0", "HC1", "HC2", "HC3"):
            raise InputError(_WHERE + "significance.cov_type", f"value {self.cov_type!r} is not robust", "use HC0, HC1, HC2 or HC3")
        _positive(self.eps, "significance.eps")


@dataclass(frozen=True)
class RegressionConfig:
    """Every knob of the regression stage; filled from params.yaml's `regression:` section."""

    candidates: list[str] = field(default_factory=lambda: ["linear", "lightgbm", "lightgbm_reg", "loglinear", "gp", "gp_sqrt", "ensemble"])
    ensemble_members: list[str] = field(default_factory=lambda: ["gp", "gp_sqrt", "lightgbm_reg"])
    folds: int = 5  # outer k-fold CV (the benchmark uses 10)
    inner_folds: int = 3  # inner k-fold CV for the nested choice
    nested: bool = True  # report the honest accuracy of the model choice itself
    n_bootstrap: int = 1000  # resamples of the CV predictions for CIs and the paired test
    seed: int = 0
    threads: int = 1  # LightGBM threads (fixed, so results are reproducible; more rarely help on a few hundred rows)
    figures: bool = True
    lightgbm: LightGBMConfig = field(default_factory=LightGBMConfig)  # the paper's baseline
    lightgbm_reg: LightGBMConfig = field(default_factory=lambda: LightGBMConfig(
        n_estimators=600, learning_rate=0.025, num_leaves=8, min_child_samples=5, subsample=0.8, colsample=0.8, seed=0))
    gp: GPConfig = field(default_factory=GPConfig)
    significance: SignificanceConfig = field(default_factory=SignificanceConfig)

    def __post_init__(self):
        # Sub-configs may arrive as plain dicts when built by keyword.
        for name, cls in (("lightgbm", LightGBMConfig), ("lightgbm_reg", LightGBMConfig), ("gp", GPConfig), ("significance", SignificanceConfig)):
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
                    raise InputError(_WHERE + key, f"value {v!r} is not a known model", f"use some of: {', '.join(allowed)}")
            if not values or len(set(values)) != len(values):
                raise InputError(_WHERE + key, f"value {values!r} is empty or repeats a model", "list each model once")
        if self.folds < 2 or self.inner_folds < 2:
            raise InputError(_WHERE + "folds", f"folds {self.folds} / inner_folds {self.inner_folds} must be >= 2", "use e.g. folds: 5, inner_folds: 3")
        if self.n_bootstrap < 10:
            raise InputError(_WHERE + "n_bootstrap", f"value {self.n_bootstrap} is too small for a CI", "use at least 100 (e.g. 1000)")
        _positive(self.threads, "threads")


def _positive(value, name: str, shown=None, need: str = "a number > 0") -> None:
    if not value > 0:
        raise InputError(_WHERE + name, f"value {shown if shown is not None else value!r} is not > 0", f"give {need}")


def _build_sub(cls, data: dict, name: str):
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise InputError(_WHERE + f"{name}.{key}", f"unknown field (value {data[key]!r})", f"use one of: {', '.join(sorted(names))}")
    try:
        return cls(**data)
    except InputError as e:  # name the section it came from (lightgbm and lightgbm_reg share a class)
        field_name = e.where.removeprefix(_WHERE).split(".", 1)[-1]
        raise InputError(_WHERE + f"{name}.{field_name}", e.problem, e.fix) from None


# ---------------------------------------------------------------- estimators


def log_features(w: np.ndarray, eps: float) -> np.ndarray:
    """log(w + eps): mixing laws are smooth (near-linear) in log-weights, not in weights."""
    return np.log(np.asarray(w, dtype=float) + eps)


class LogLinearLaw(RegressorMixin, BaseEstimator):
    """Data Mixing Laws (Ye et al. 2024) / Olmix: L(w) = c + exp(b + t . w), by least squares."""

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        floor = y.min() - 0.5 * max(y.std(), 1e-6)  # start c below every loss so exp() fits the excess
        p0 = np.r_[floor, np.log(max(y.mean() - floor, 1e-6)), np.zeros(X.shape[1])]

        def residuals(p):
            return p[0] + np.exp(np.clip(p[1] + X @ p[2:], -50, 50)) - y

        self.params_ = least_squares(residuals, p0, method="trf", max_nfev=2000).x
        return self

    def predict(self, X):
        p = self.params_
        return p[0] + np.exp(np.clip(p[1] + np.asarray(X, float) @ p[2:], -50, 50))


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def gp_features(w: np.ndarray, transform: str, eps: float) -> np.ndarray:
    """The GP's inputs: log(w + eps) (mixing laws are smooth in log-weights) or sqrt(w)."""
    w = np.asarray(w, dtype=float)
    return log_features(w, eps) if transform == "log" else np.sqrt(w)


class LogWeightGP(RegressorMixin, BaseEstimator):
    """A Gaussian process on transformed weights: signal x RBF (one length scale per domain with
    `ard`) plus white noise, hyper-parameters by maximum marginal likelihood (L-BFGS-B, analytic
    gradient). Written out rather than via scikit-learn's GPR because its generic kernel gradient
    makes ARD fits ~10x slower on hundreds of rows; the model is the same.
    """

    def __init__(self, transform: str = "log", eps: float = 0.001, ard: bool = True, length_scale: float = 1.0, max_iter: int = 200):
        self.transform, self.eps, self.ard, self.length_scale, self.max_iter = transform, eps, ard, length_scale, max_iter

    def _neg_lml(self, theta: np.ndarray, Z: np.ndarray, y: np.ndarray):
        """Negative log marginal likelihood and its gradient in log-parameters."""
        n, d = Z.shape
        signal, noise = np.exp(theta[0]), np.exp(theta[-1])
        Zs = Z / (np.exp(theta[1:-1]) if self.ard else np.exp(theta[1]))
        Kf = signal * np.exp(-0.5 * _sqdist(Zs, Zs))
        try:
            chol = cho_factor(Kf + noise * np.eye(n), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        alpha = cho_solve(chol, y, check_finite=False)
        nll = 0.5 * y @ alpha + np.log(np.diag(chol[0])).sum() + 0.5 * n * np.log(2 * np.pi)
        W = np.outer(alpha, alpha) - cho_solve(chol, np.eye(n), check_finite=False)
        M = W * Kf
        # d lml / d log(ls_k) = 0.5 sum_ij M_ij (z_ik - z_jk)^2 / ls_k^2, expanded as matrix products.
        g_ls = M.sum(1) @ Zs**2 - (Zs * (M @ Zs)).sum(0)
        grad = np.r_[0.5 * M.sum(), g_ls if self.ard else g_ls.sum(), 0.5 * noise * np.trace(W)]
        return nll, -grad

    def fit(self, X, y):
        raw = gp_features(X, self.transform, self.eps)
        # Length scales are in units of each feature's spread; starting at sqrt(d) spreads makes the
        # typical scaled distance between two mixtures about 1, away from the two degenerate optima
        # (everything noise; everything constant).
        self.scale_ = np.where(raw.std(axis=0) > 0, raw.std(axis=0), 1.0)
        Z = raw / self.scale_
        y = np.asarray(y, dtype=float)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std()) or 1.0
        yn = (y - self.y_mean_) / self.y_std_
        d = Z.shape[1]
        k = d if self.ard else 1
        theta0 = np.r_[0.0, np.full(k, np.log(self.length_scale * np.sqrt(d))), np.log(1e-2)]
        bounds = [(np.log(1e-2), np.log(1e2))] + [(np.log(0.1), np.log(1e3))] * k + [(np.log(1e-6), np.log(1.0))]
        theta = minimize(self._neg_lml, theta0, args=(Z, yn), jac=True, method="L-BFGS-B", bounds=bounds,
                         options={"maxiter": self.max_iter}).x
        self.signal_, self.noise_ = float(np.exp(theta[0])), float(np.exp(theta[-1]))
        self.length_scales_ = self.scale_ * (np.exp(theta[1:-1]) if self.ard else np.exp(theta[1]))
        self.Z_ = raw / self.length_scales_
        K = self.signal_ * np.exp(-0.5 * _sqdist(self.Z_, self.Z_)) + self.noise_ * np.eye(len(yn))
        self.alpha_ = cho_solve(cho_factor(K, lower=True), yn)
        return self

    def predict(self, X):
        Z = gp_features(X, self.transform, self.eps) / self.length_scales_
        out = np.empty(len(Z))
        step = max(1, 4_000_000 // len(self.Z_))  # rows per block: a few MB of kernel at a time
        for s in range(0, len(Z), step):
            out[s:s + step] = (self.signal_ * np.exp(-0.5 * _sqdist(Z[s:s + step], self.Z_))) @ self.alpha_
        return out * self.y_std_ + self.y_mean_


class MeanEnsemble(RegressorMixin, BaseEstimator):
    """The mean of its members' predictions (all on the loss scale)."""

    def __init__(self, members: list | None = None):
        self.members = members

    def fit(self, X, y):
        self.fitted_ = [clone(m).fit(X, y) for m in self.members]
        return self

    def predict(self, X):
        return np.mean([m.predict(X) for m in self.fitted_], axis=0)


def make_estimator(name: str, config: RegressionConfig):
    """An unfitted estimator for candidate `name`."""
    if name == "linear":
        return LinearRegression()
    if name in ("lightgbm", "lightgbm_reg"):
        import lightgbm as lgb

        c = config.lightgbm if name == "lightgbm" else config.lightgbm_reg
        return lgb.LGBMRegressor(
            n_estimators=c.n_estimators, learning_rate=c.learning_rate, num_leaves=c.num_leaves,
            min_child_samples=c.min_child_samples, subsample=c.subsample, subsample_freq=1 if c.subsample < 1 else 0,
            colsample_bytree=c.colsample, random_state=c.seed, deterministic=True, force_row_wise=True,
            num_threads=config.threads, verbose=-1,
        )
    if name == "loglinear":
        return LogLinearLaw()
    if name == "gp":
        return LogWeightGP("log", config.gp.eps, config.gp.ard, config.gp.length_scale, config.gp.max_iter)
    if name == "gp_sqrt":
        return LogWeightGP("sqrt", config.gp.eps, config.gp.ard, config.gp.length_scale, config.gp.max_iter)
    if name == "ensemble":
        return MeanEnsemble([make_estimator(m, config) for m in config.ensemble_members])
    raise InputError(_WHERE + "candidates", f"value {name!r} is not a known model", f"use one of {MODEL_NAMES}")


# ---------------------------------------------------------------- data


def read_training_data(mixtures_csv, losses_csv, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Weights (columns = domains, index = proxy index) and the target loss, joined on `index`."""
    mixtures = read_weights_csv(mixtures_csv)
    losses = _read_csv(losses_csv)
    if "index" not in losses.columns:
        raise InputError(str(losses_csv), f"no 'index' column (header: {list(losses.columns)})", "use the paper's format: index,metric/<domain>_val_loss,...")
    if target not in losses.columns:
        targets = [c for c in losses.columns if c != "index"]
        raise InputError(f"{losses_csv}, column {target!r}", "the target column is not in the losses CSV", f"use one of: {', '.join(targets)}")
    losses = _unique_index(losses, losses_csv)
    y = pd.to_numeric(losses[target], errors="coerce")
    bad = y[~np.isfinite(y.to_numpy(dtype=float))]
    if len(bad):
        raw = losses.loc[bad.index[0], target]
        raise InputError(f"{losses_csv}, column {target!r}, index {bad.index[0]}", f"value {raw!r} is missing or not a finite number",
                         "fill in the loss or remove that proxy's row from both CSVs")
    common = mixtures.index.intersection(y.index)
    if len(common) == 0:
        raise InputError(f"{mixtures_csv} and {losses_csv}, column 'index'",
                         f"only {len(common)} indexes join (mixtures: {_span(mixtures.index)}, losses: {_span(y.index)})",
                         "give both CSVs the same proxy indexes")
    missing = mixtures.index.difference(y.index)
    if len(missing):
        raise InputError(f"{losses_csv}, column 'index'", f"{len(missing)} mixture indexes have no loss row, e.g. {list(missing[:5])}",
                         "train and collect those proxies, or drop their rows from the mixtures CSV")
    return mixtures, y.loc[mixtures.index].astype(float).rename(target)


def read_weights_csv(path, domains: list[str] | None = None) -> pd.DataFrame:
    """The paper's mixtures CSV as a DataFrame indexed by `index`, columns = domain names.

    With `domains` (the fit-time order), the columns must be exactly `train_<domain>` in that order.
    """
    df = _read_csv(path)
    if "index" not in df.columns:
        raise InputError(str(path), f"no 'index' column (header: {list(df.columns)})", "use the paper's format: index,train_<domain>,...")
    cols = [c for c in df.columns if c != "index"]
    bad = [c for c in cols if not c.startswith(TRAIN_PREFIX)]
    if bad:
        raise InputError(f"{path}, column {bad[0]!r}", "mixture columns must be named train_<domain>", "rename the column")
    names = [c[len(TRAIN_PREFIX):] for c in cols]
    if domains is not None and names != list(domains):
        raise InputError(f"{path}, header", f"columns {cols} differ from those seen at fit time {[TRAIN_PREFIX + d for d in domains]}",
                         "give the mixtures CSV the fit-time columns, in the same order")
    df = _unique_index(df, path)
    weights = df[cols].apply(pd.to_numeric, errors="coerce")
    values = weights.to_numpy(dtype=float)
    bad_rows, bad_cols = np.nonzero(~np.isfinite(values) | (values < 0))
    if len(bad_rows):
        i, j = bad_rows[0], bad_cols[0]
        raise InputError(f"{path}, column {cols[j]!r}, index {weights.index[i]}", f"value {df[cols[j]].iloc[i]!r} is missing, negative or not a number",
                         "give every weight as a number >= 0")
    zero = np.nonzero(values.sum(axis=1) <= 0)[0]
    if len(zero):
        raise InputError(f"{path}, index {weights.index[zero[0]]}", "all weights are zero", "give at least one domain a positive weight")
    weights.columns = names
    return weights


def _read_csv(path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file not found", "check the path")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(str(path), f"not a readable CSV ({e})", "write a comma-separated file with a header row") from None
    if df.empty:
        raise InputError(str(path), "has no rows", "give at least one data row")
    return df


def _unique_index(df: pd.DataFrame, path) -> pd.DataFrame:
    idx = pd.to_numeric(df["index"], errors="coerce")
    if idx.isna().any() or (idx % 1 != 0).any():
        bad = df["index"][idx.isna() | (idx % 1 != 0)].iloc[0]
        raise InputError(f"{path}, column 'index'", f"value {bad!r} is not an integer", "number the rows 1, 2, ...")
    dup = idx[idx.duplicated()]
    if len(dup):
        raise InputError(f"{path}, column 'index'", f"value {int(dup.iloc[0])} appears more than once", "give every proxy a unique index")
    return df.set_index(idx.astype(int).rename("index")).drop(columns="index")


def _span(idx) -> str:
    return f"{len(idx)} rows, {min(idx)}..{max(idx)}" if len(idx) else "none"


# ---------------------------------------------------------------- metrics


def spearman(a, b) -> float:
    return float(stats.spearmanr(a, b)[0])


def bootstrap_indices(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, n) row indices drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))


def _rowwise_spearman(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Spearman rho of each row pair (bootstrap resamples), vectorised over rows."""
    rp = stats.rankdata(pred, axis=1)
    rt = stats.rankdata(true, axis=1)
    rp -= rp.mean(axis=1, keepdims=True)
    rt -= rt.mean(axis=1, keepdims=True)
    denom = np.sqrt((rp**2).sum(axis=1) * (rt**2).sum(axis=1))
    return np.divide((rp * rt).sum(axis=1), denom, out=np.zeros(len(rp)), where=denom > 0)


def accuracy(true: np.ndarray, pred: np.ndarray, boot: np.ndarray) -> dict:
    """Spearman rho with a percentile bootstrap 95% CI, Pearson r and MSE of CV predictions."""
    rhos = _rowwise_spearman(pred[boot], true[boot])
    return {
        "cv_spearman": spearman(pred, true),
        "ci95": [float(np.percentile(rhos, 2.5)), float(np.percentile(rhos, 97.5))],
        "pearson": float(stats.pearsonr(pred, true)[0]) if np.std(pred) > 0 else 0.0,
        "mse": float(np.mean((pred - true) ** 2)),
    }


def paired_bootstrap(true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, boot: np.ndarray) -> dict:
    """One-sided paired bootstrap test that rho(a) > rho(b) on the same resampled rows."""
    diff = _rowwise_spearman(pred_a[boot], true[boot]) - _rowwise_spearman(pred_b[boot], true[boot])
    return {
        "rho_difference": spearman(pred_a, true) - spearman(pred_b, true),
        "ci95": [float(np.percentile(diff, 2.5)), float(np.percentile(diff, 97.5))],
        "p_value": float((1 + np.sum(diff <= 0)) / (1 + len(diff))),
    }


# ---------------------------------------------------------------- cross-validation


def _folds(n: int, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if n < k:
        raise InputError(_WHERE + "folds", f"{k} folds need at least {k} proxies, found {n}", "lower regression.folds or train more proxies")
    return list(KFold(k, shuffle=True, random_state=seed).split(np.zeros(n)))


def cv_predictions(names: list[str], X: np.ndarray, y: np.ndarray, folds, config: RegressionConfig, progress=None) -> dict[str, np.ndarray]:
    """Out-of-fold predictions of each candidate.

    The ensemble is the mean of its members, which are deterministic, so its out-of-fold
    predictions are the mean of theirs: computed without refitting.
    """
    base = _fit_order(names, config)
    out = {n: np.zeros(len(y)) for n in base}
    for train, test in folds:
        for name in base:
            out[name][test] = make_estimator(name, config).fit(X[train], y[train]).predict(X[test])
            if progress is not None:
                progress.update(1)
    if "ensemble" in names:
        out["ensemble"] = np.mean([out[m] for m in config.ensemble_members], axis=0)
    return {n: out[n] for n in names}


def _fit_order(names: list[str], config: RegressionConfig) -> list[str]:
    """The models that must really be fitted for `names` (ensemble members in place of the ensemble)."""
    need = [n for n in names if n != "ensemble"]
    if "ensemble" in names:
        need += [m for m in config.ensemble_members if m not in need]
    return need


def choose(preds: dict[str, np.ndarray], y: np.ndarray) -> str:
    """The candidate with the highest CV Spearman rho (ties: the earlier, simpler one)."""
    scores = {n: spearman(p, y) for n, p in preds.items()}
    return max(scores, key=lambda n: (scores[n], -list(scores).index(n)))


def nested_cv(names: list[str], X: np.ndarray, y: np.ndarray, config: RegressionConfig, outer_preds: dict[str, np.ndarray], folds, progress=None):
    """Honest predictions of the selection procedure: each outer fold's choice uses inner CV only.

    `outer_preds` are the candidates' out-of-fold predictions on the same outer folds: the chosen
    candidate's outer-test predictions are exactly those, so they are reused, not refitted.
    """
    pred = np.zeros(len(y))
    choices = []
    for k, (train, test) in enumerate(folds):
        inner = _folds(len(train), config.inner_folds, config.seed + 1 + k)
        inner_preds = cv_predictions(names, X[train], y[train], inner, config, progress)
        best = choose(inner_preds, y[train])
        choices.append(best)
        pred[test] = outer_preds[best][test]
    return pred, choices


# ---------------------------------------------------------------- fitted model


@dataclass
class FittedModel:
    """A fitted regression: `predict` takes weights in the fit-time domain order."""

    estimator: object
    domains: list[str]
    target: str
    name: str
    config: dict

    def predict(self, weights) -> np.ndarray:
        """Predicted loss for each row of `weights` (DataFrame with domain or train_<domain> columns, or ndarray)."""
        return np.asarray(self.estimator.predict(self.matrix(weights)), dtype=float)

    def matrix(self, weights, where: str = "weights") -> np.ndarray:
        """`weights` as a float matrix in fit-time order, checked."""
        if isinstance(weights, pd.DataFrame):
            cols = [c[len(TRAIN_PREFIX):] if str(c).startswith(TRAIN_PREFIX) else str(c) for c in weights.columns if c != "index"]
            if cols != self.domains:
                raise InputError(f"{where}, columns", f"domains {cols} differ from those seen at fit time {self.domains}",
                                 "give the fit-time domains, in the same order")
            X = weights[[c for c in weights.columns if c != "index"]].to_numpy(dtype=float)
        else:
            X = np.asarray(weights, dtype=float)
            if X.ndim == 1:
                X = X[None, :]
            if X.ndim != 2 or X.shape[1] != len(self.domains):
                raise InputError(f"{where}, shape", f"shape {X.shape} does not have {len(self.domains)} columns (domains {self.domains})",
                                 "give one column per fit-time domain")
        if not np.all(np.isfinite(X)):
            raise InputError(where, "contains NaN or infinite weights", "give finite weights")
        return X


def fit_model(name: str, X: np.ndarray, y: np.ndarray, domains: list[str], target: str, config: RegressionConfig) -> FittedModel:
    """Fit candidate `name` on all rows."""
    return FittedModel(make_estimator(name, config).fit(X, y), list(domains), target, name, dataclasses.asdict(config))


def save_model(model: FittedModel, model_dir, X: np.ndarray, y: np.ndarray, index) -> None:
    """Write the pickled model, its metadata and the training rows (for bootstrap refits)."""
    model_dir = Path(model_dir)
    with atomic_path(model_dir / MODEL_FILE) as tmp:
        tmp.write_bytes(pickle.dumps(model, protocol=4))
    write_json(model_dir / META_FILE, {"name": model.name, "target": model.target, "domains": model.domains, "config": model.config})
    data = pd.DataFrame(X, columns=[TRAIN_PREFIX + d for d in model.domains])
    data.insert(0, "index", list(index))
    data["target"] = y
    write_text(model_dir / TRAIN_FILE, data.to_csv(index=False, float_format="%.17g"))


def load_model(model_dir) -> FittedModel:
    """The model saved by `fit_dir` in `model_dir`."""
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise InputError(str(path), "no fitted model here", "run `regmix fit ... --out DIR` first and pass that DIR")
    with open(path, "rb") as f:
        model = pickle.load(f)
    if not isinstance(model, FittedModel):
        raise InputError(str(path), f"holds a {type(model).__name__}, not a regmix model", "refit with `regmix fit`")
    return model


def load_training_data(model_dir) -> tuple[np.ndarray, np.ndarray]:
    """The rows the model in `model_dir` was fitted on (X, y)."""
    path = Path(model_dir) / TRAIN_FILE
    if not path.is_file():
        raise InputError(str(path), "training data missing", "refit with `regmix fit` (it saves the training rows)")
    df = pd.read_csv(path)
    return df[[c for c in df.columns if c.startswith(TRAIN_PREFIX)]].to_numpy(float), df["target"].to_numpy(float)


def predict_csv(model_dir, mixtures_csv, out_csv) -> None:
    """Write `index,prediction` for each row of the mixtures CSV (columns must match fit time)."""
    model = load_model(model_dir)
    weights = read_weights_csv(mixtures_csv, model.domains)
    pred = model.predict(weights.to_numpy(float))
    out = pd.DataFrame({"index": weights.index.to_numpy(), "prediction": pred})
    write_text(out_csv, out.to_csv(index=False, float_format="%.10g"))


# ---------------------------------------------------------------- the stage


def fit_dir(mixtures_csv, losses_csv, target: str, out_dir, config: RegressionConfig) -> dict:
    """Fit, cross-validate and explain the regression; write everything under `out_dir`.

    Writes `model.pkl`/`model.json` (the chosen model, refitted on all rows), `training_data.csv`,
    `fit_report.json`, `cv_predictions.csv` (index,true,prediction of the nested choice),
    `cv_predictions_all.csv` (every candidate), significance tables and figures. Returns the report.
    """
    from tqdm.auto import tqdm

    from . import significance

    weights, y_series = read_training_data(mixtures_csv, losses_csv, target)
    domains = list(weights.columns)
    X, y = weights.to_numpy(float), y_series.to_numpy(float)
    names = list(dict.fromkeys([*BASELINES, *config.candidates]))  # baselines are always reported, chosen or not
    folds = _folds(len(y), config.folds, config.seed)
    n_fits = len(folds) * len(_fit_order(names, config)) * (1 + (config.inner_folds if config.nested else 0))
    with tqdm(total=n_fits, desc=f"regression CV ({target})", unit="fit", leave=False) as bar:
        preds = cv_predictions(names, X, y, folds, config, bar)
        selectable = {n: preds[n] for n in config.candidates}
        if config.nested:
            nested_pred, choices = nested_cv(list(config.candidates), X, y, config, selectable, folds, bar)
    chosen = choose(selectable, y)
    if not config.nested:
        nested_pred, choices = preds[chosen], [chosen] * len(folds)
    boot = bootstrap_indices(len(y), config.n_bootstrap, config.seed)
    report = {
        "target": target,
        "n_proxies": int(len(y)),
        "domains": domains,
        "folds": config.folds,
        "chosen": chosen,
        "models": {n: accuracy(y, p, boot) for n, p in preds.items()},
        "nested": {**accuracy(y, nested_pred, boot), "inner_folds": config.inner_folds, "choices": choices},
        "chosen_beats_lightgbm": paired_bootstrap(y, nested_pred, preds["lightgbm"], boot),
        "chosen_beats_linear": paired_bootstrap(y, nested_pred, preds["linear"], boot),
    }
    model = fit_model(chosen, X, y, domains, target, config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_model(model, out_dir, X, y, weights.index)
    write_text(out_dir / "cv_predictions.csv", pd.DataFrame({"index": weights.index, "true": y, "prediction": nested_pred}).to_csv(index=False, float_format="%.10g"))
    write_text(out_dir / "cv_predictions_all.csv", pd.DataFrame({"index": weights.index, "true": y, **preds}).to_csv(index=False, float_format="%.10g"))
    report["significance"] = significance.write_significance(out_dir, weights, y_series, losses_csv, config.significance, config.figures)
    if config.figures:
        from . import regression_figures

        regression_figures.predicted_vs_true(out_dir / "figures" / "predicted_vs_true.png", y, nested_pred, report["nested"]["cv_spearman"],
                                             f"{target}: {chosen} (nested {config.folds}-fold CV)")
    write_json(out_dir / "fit_report.json", report)
    return report
