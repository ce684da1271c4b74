"""Which domains matter: robust OLS per domain, the Spearman heatmap, and pairwise interactions.

All p-values are corrected for multiple testing (Holm, or Benjamini-Hochberg), since a researcher
reading a table of 17 domains (or 136 pairs) would otherwise find "significant" ones by chance.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ..files import write_json, write_text
from ..formats import read_losses_csv


def correct(p_values, method: str) -> np.ndarray:
    """Holm ('holm') or Benjamini-Hochberg ('fdr_bh') corrected p-values (NaNs stay NaN)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def _design(weights: pd.DataFrame, log_weights: bool, eps: float) -> pd.DataFrame:
    """Regressors: log(w + eps) with an intercept, or raw weights without one.

    Raw weights sum to 1, so an intercept would be collinear with them; without it each
    coefficient is the loss extrapolated to a pure-domain mixture.
    """
    if log_weights:
        return sm.add_constant(np.log(weights + eps), has_constant="add")
    return weights.astype(float)


def ols_table(
    weights: pd.DataFrame,
    y: pd.Series,
    log_weights: bool = True,
    eps: float = 0.001,
    cov_type: str = "HC3",
    correction: str = "holm",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """OLS of the loss on each domain's (log-)weight with robust errors: coef, 95% CI, p and corrected p.

    Domains whose weight never varies are dropped from the fit and reported with NaNs.
    """
    X = _design(weights, log_weights, eps)
    varying = [c for c in X.columns if c == "const" or X[c].std() > 0]
    fit = sm.OLS(y.to_numpy(float), X[varying].to_numpy(float)).fit(cov_type=cov_type)
    ci = np.asarray(fit.conf_int(alpha=0.05))
    rows = {c: (fit.params[i], ci[i, 0], ci[i, 1], fit.pvalues[i]) for i, c in enumerate(varying)}
    table = pd.DataFrame(
        [(d, *rows.get(d, (np.nan,) * 4)) for d in weights.columns],
        columns=["domain", "coef", "ci_low", "ci_high", "p_value"],
    )
    table["p_corrected"] = correct(table["p_value"], correction)
    table["significant"] = table["p_corrected"] < alpha
    table.attrs["r_squared"] = float(fit.rsquared)
    return table


def spearman_matrix(weights: pd.DataFrame, losses: pd.DataFrame, correction: str = "holm") -> pd.DataFrame:
    """Spearman rho of every domain weight with every loss (the paper's heatmap), long format.

    Columns: domain, target, rho, p_value, p_corrected (corrected over the whole matrix).
    """
    rows = []
    for d in weights.columns:
        for t in losses.columns:
            w, lv = weights[d].to_numpy(float), losses[t].to_numpy(float)
            if np.std(w) == 0 or np.std(lv) == 0:
                rows.append((d, t, np.nan, np.nan))
                continue
            rho, p = stats.spearmanr(w, lv)
            rows.append((d, t, float(rho), float(p)))
    table = pd.DataFrame(rows, columns=["domain", "target", "rho", "p_value"])
    table["p_corrected"] = correct(table["p_value"], correction)
    return table


def interaction_table(
    weights: pd.DataFrame,
    y: pd.Series,
    eps: float = 0.001,
    cov_type: str = "HC3",
    correction: str = "holm",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Test each pair of domains for an interaction: OLS of the loss on all log-weights plus
    the product of the pair's centred log-weights; the robust p-value of that product term.

    A significant pair means the effect of one domain's share depends on the other's.
    """
    logw = np.log(weights + eps)
    varying = [c for c in logw.columns if logw[c].std() > 0]
    base = sm.add_constant(logw[varying].to_numpy(float), has_constant="add")
    centred = (logw[varying] - logw[varying].mean()).to_numpy(float)
    yv = y.to_numpy(float)
    rows = []
    for i, j in itertools.combinations(range(len(varying)), 2):
        X = np.column_stack([base, centred[:, i] * centred[:, j]])
        if X.shape[0] <= X.shape[1] + 1:
            rows.append((varying[i], varying[j], np.nan, np.nan))
            continue
        fit = sm.OLS(yv, X).fit(cov_type=cov_type)
        rows.append((varying[i], varying[j], float(fit.params[-1]), float(fit.pvalues[-1])))
    table = pd.DataFrame(rows, columns=["domain_a", "domain_b", "coef", "p_value"])
    table["p_corrected"] = correct(table["p_value"], correction)
    table["significant"] = table["p_corrected"] < alpha
    return table.sort_values("p_value", kind="stable").reset_index(drop=True)


def read_all_losses(losses_csv, index) -> pd.DataFrame:
    """Every loss column of the losses CSV, on the rows `index` (already validated by the caller)."""
    return read_losses_csv(losses_csv).loc[list(index)].apply(pd.to_numeric, errors="coerce").dropna(axis=1)


def write_significance(out_dir, weights: pd.DataFrame, y: pd.Series, losses_csv, config, figures: bool = True) -> dict:
    """Write `ols.csv`, `spearman.csv`, `interactions.csv` (and the heatmap) under out_dir; return a summary."""
    out_dir = Path(out_dir)
    ols = ols_table(weights, y, config.log_weights, config.eps, config.cov_type, config.correction, config.alpha)
    heat = spearman_matrix(weights, read_all_losses(losses_csv, weights.index), config.correction)
    write_text(out_dir / "ols.csv", ols.to_csv(index=False, float_format="%.6g"))
    write_text(out_dir / "spearman.csv", heat.to_csv(index=False, float_format="%.6g"))
    summary = {
        "ols_r_squared": ols.attrs["r_squared"],
        "significant_domains": ols.loc[ols["significant"], "domain"].tolist(),
        "correction": config.correction,
    }
    if config.interactions:
        inter = interaction_table(weights, y, config.eps, config.cov_type, config.correction, config.alpha)
        write_text(out_dir / "interactions.csv", inter.to_csv(index=False, float_format="%.6g"))
        summary["significant_interactions"] = [
            [a, b] for a, b in inter.loc[inter["significant"], ["domain_a", "domain_b"]].to_numpy()
        ]
    if figures:
        from . import figures as regression_figures

        regression_figures.correlation_heatmap(out_dir / "figures" / "spearman_heatmap.png", heat, config.alpha)
    write_json(out_dir / "significance.json", summary)
    return summary
