"""The regression stage: fit every candidate, cross-validate, choose, explain; write everything under one directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..config.regression import RegressionConfig
from ..files import write_json, write_text
from ..formats import read_domain_losses, read_training_data
from .cv import accuracy, bootstrap_indices, choose, cv_predictions, fit_order, folds_of, nested_cv, paired_bootstrap
from .saved import fit_model, save_model

BASELINES = ("linear", "lightgbm")


def fit_dir(mixtures_csv, losses_csv, target: str, out_dir, config: RegressionConfig) -> dict:
    """Fit, cross-validate and explain the regression; write everything under `out_dir`.

    Writes `model/` (the chosen model refitted on all rows, as plain data: `saved`), `training_data.csv`,
    `fit_report.json`, `cv_predictions.csv` (index,true,prediction of the nested choice),
    `cv_predictions_all.csv` (every candidate), significance tables and figures. Returns the report.
    """
    from tqdm.auto import tqdm

    from . import significance

    weights, y_series = read_training_data(mixtures_csv, losses_csv, target)
    domains = list(weights.columns)
    X, y = weights.to_numpy(float), y_series.to_numpy(float)
    D = read_domain_losses(losses_csv, domains, weights.index) if "composite" in config.candidates else None
    names = list(dict.fromkeys([*BASELINES, *config.candidates]))  # baselines are always reported, chosen or not
    folds = folds_of(len(y), config.folds, config.seed)
    n_fits = len(folds) * len(fit_order(names, config)) * (1 + (config.inner_folds if config.nested else 0))
    with tqdm(total=n_fits, desc=f"regression CV ({target})", unit="fit", leave=False) as bar:
        preds = cv_predictions(names, X, y, folds, config, bar, D)
        selectable = {n: preds[n] for n in config.candidates}
        if config.nested:
            nested_pred, choices = nested_cv(list(config.candidates), X, y, config, selectable, folds, bar, D)
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
    if all(np.isnan(report["models"][n]["cv_spearman"]) for n in selectable):
        report["choice_warning"] = (
            "every candidate's CV Spearman rho is NaN (constant predictions: too few proxies for the models?); "
            f"chose the first candidate, {chosen}"
        )
    model = fit_model(chosen, X, y, domains, target, config, D)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_model(model, out_dir, X, y, weights.index, D)
    write_text(
        out_dir / "cv_predictions.csv",
        pd.DataFrame({"index": weights.index, "true": y, "prediction": nested_pred}).to_csv(
            index=False, float_format="%.10g"
        ),
    )
    write_text(
        out_dir / "cv_predictions_all.csv",
        pd.DataFrame({"index": weights.index, "true": y, **preds}).to_csv(index=False, float_format="%.10g"),
    )
    report["significance"] = significance.write_significance(
        out_dir, weights, y_series, losses_csv, config.significance, config.figures
    )
    if config.figures:
        from . import figures

        figures.predicted_vs_true(
            out_dir / "figures" / "predicted_vs_true.png",
            y,
            nested_pred,
            report["nested"]["cv_spearman"],
            f"{target}: {chosen} (nested {config.folds}-fold CV)",
        )
    write_json(out_dir / "fit_report.json", report)
    return report
