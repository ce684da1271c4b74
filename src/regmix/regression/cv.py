"""Honest accuracy of the regression: k-fold CV predictions, the model choice by inner CV (nested CV),
Spearman rho with bootstrap CIs, and the paired bootstrap test between two models.

Model choice is by k-fold CV Spearman rho on the training rows only; the reported accuracy of the
choice itself comes from nested CV (the choice in each outer fold uses inner folds of that fold's
training rows), so neither early stopping nor selection ever sees held-out rows.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.model_selection import KFold

from ..config.regression import RegressionConfig
from ..errors import InputError
from .estimators import fit_estimator

_WHERE = "params.yaml, field regression."


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
    """One-sided paired bootstrap test that rho(a) > rho(b) on the same resampled rows.

    p = (1 + #resamples where a is not better) / (1 + #resamples), so it never goes below
    `p_value_floor` = 1 / (1 + #resamples): at the floor no resample favoured b, and the true p is
    only known to be smaller (`p_value_text` then reads "p < floor"; more resamples would resolve it).
    """
    diff = _rowwise_spearman(pred_a[boot], true[boot]) - _rowwise_spearman(pred_b[boot], true[boot])
    p, floor = float((1 + np.sum(diff <= 0)) / (1 + len(diff))), 1.0 / (1 + len(diff))
    return {
        "rho_difference": spearman(pred_a, true) - spearman(pred_b, true),
        "ci95": [float(np.percentile(diff, 2.5)), float(np.percentile(diff, 97.5))],
        "p_value": p,
        "p_value_floor": floor,
        "p_value_text": f"p < {floor:.2g}" if p == floor else f"p = {p:.2g}",
    }


# ---------------------------------------------------------------- cross-validation


def folds_of(n: int, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if n < k:
        raise InputError(
            _WHERE + "folds",
            f"{k} folds need at least {k} proxies, found {n}",
            "lower regression.folds or train more proxies",
        )
    return list(KFold(k, shuffle=True, random_state=seed).split(np.zeros(n)))


def cv_predictions(
    names: list[str], X: np.ndarray, y: np.ndarray, folds, config: RegressionConfig, progress=None, domain_losses=None
) -> dict[str, np.ndarray]:
    """Out-of-fold predictions of each candidate (`domain_losses`, rows as X: for the composite).

    The ensemble is the mean of its members, which are deterministic, so its out-of-fold
    predictions are the mean of theirs: computed without refitting.
    """
    base = fit_order(names, config)
    out = {n: np.zeros(len(y)) for n in base}
    for train, test in folds:
        for name in base:
            D = None if domain_losses is None else domain_losses[train]
            out[name][test] = fit_estimator(name, config, X[train], y[train], D).predict(X[test])
            if progress is not None:
                progress.update(1)
    if "ensemble" in names:
        out["ensemble"] = np.mean([out[m] for m in config.ensemble_members], axis=0)
    return {n: out[n] for n in names}


def fit_order(names: list[str], config: RegressionConfig) -> list[str]:
    """The models that must really be fitted for `names` (ensemble members in place of the ensemble)."""
    need = [n for n in names if n != "ensemble"]
    if "ensemble" in names:
        need += [m for m in config.ensemble_members if m not in need]
    return need


def choose(preds: dict[str, np.ndarray], y: np.ndarray) -> str:
    """The candidate with the highest CV Spearman rho (ties: the earlier, simpler one).

    A candidate whose rho is NaN (constant predictions, e.g. a LightGBM that cannot split a few rows
    into leaves of `min_child_samples`) ranks last; NaN compares neither greater nor smaller, so a
    plain `max` would keep whichever came first. If every rho is NaN the first candidate is
    returned (`fit_dir` says so in the report).
    """
    scores = [spearman(p, y) for p in preds.values()]
    ranked = [(s if np.isfinite(s) else -np.inf, -i) for i, s in enumerate(scores)]
    return list(preds)[-max(ranked)[1]]


def nested_cv(
    names: list[str],
    X: np.ndarray,
    y: np.ndarray,
    config: RegressionConfig,
    outer_preds: dict[str, np.ndarray],
    folds,
    progress=None,
    domain_losses=None,
):
    """Honest predictions of the selection procedure: each outer fold's choice uses inner CV only.

    `outer_preds` are the candidates' out-of-fold predictions on the same outer folds: the chosen
    candidate's outer-test predictions are exactly those, so they are reused, not refitted.
    """
    pred = np.zeros(len(y))
    choices = []
    for k, (train, test) in enumerate(folds):
        inner = folds_of(len(train), config.inner_folds, config.seed + 1 + k)
        D = None if domain_losses is None else domain_losses[train]
        inner_preds = cv_predictions(names, X[train], y[train], inner, config, progress, D)
        best = choose(inner_preds, y[train])
        choices.append(best)
        pred[test] = outer_preds[best][test]
    return pred, choices
