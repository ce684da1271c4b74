"""Regression: candidates, honest CV, fit report, save/load/predict, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regmix.config.mixtures import MixtureConfig
from regmix.config.params import build
from regmix.config.regression import RegressionConfig
from regmix.errors import InputError
from regmix.formats import write_mixtures_csv
from regmix.mixtures.sampling import sample_mixtures
from regmix.regression.cv import accuracy, bootstrap_indices, cv_predictions, folds_of, nested_cv, paired_bootstrap
from regmix.regression.fit import fit_dir
from regmix.regression.saved import load_model, predict_csv

DOMAINS = ["web", "wiki", "code", "math", "legal"]
TARGET = "metric/wiki_val_loss"
PAPER = Path(__file__).resolve().parents[1].parent / "shared" / "regmix-paper-data"


def make_data(folder: Path, n: int = 30, seed: int = 0) -> tuple[Path, Path]:
    """A mixtures CSV and a losses CSV whose losses follow a noisy log-linear mixing law."""
    mixtures = sample_mixtures({d: 1 / len(DOMAINS) for d in DOMAINS}, n, MixtureConfig(), seed)
    w = np.array([[m[d] for d in DOMAINS] for m in mixtures])
    rng = np.random.default_rng(seed)
    losses = pd.DataFrame({"index": np.arange(1, n + 1)})
    losses[TARGET] = 3.0 - 0.3 * np.log(w @ np.array([0.2, 0.6, 0.0, 0.1, 0.1]) + 0.02) + rng.normal(0, 0.01, n)
    losses["metric/code_val_loss"] = (
        3.0 - 0.3 * np.log(w @ np.array([0.0, 0.0, 0.9, 0.1, 0.0]) + 0.02) + rng.normal(0, 0.01, n)
    )
    write_mixtures_csv(folder / "m.csv", mixtures, DOMAINS)
    losses.to_csv(folder / "l.csv", index=False)
    return folder / "m.csv", folder / "l.csv"


def fast_config(**kw) -> RegressionConfig:
    base = dict(
        candidates=["linear", "loglinear", "gp", "ensemble"],
        ensemble_members=["gp", "loglinear"],
        folds=3,
        inner_folds=2,
        n_bootstrap=100,
        figures=False,
        lightgbm={"n_estimators": 30, "min_child_samples": 5},
    )
    return RegressionConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def fitted(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    report = fit_dir(*data, TARGET, out, fast_config(figures=True))
    return out, report


def test_fit_dir_writes_model_report_and_predictions(fitted):
    out, report = fitted
    for name in [
        "model.pkl",
        "model.json",
        "fit_report.json",
        "cv_predictions.csv",
        "ols.csv",
        "spearman.csv",
        "interactions.csv",
        "figures/predicted_vs_true.png",
        "figures/spearman_heatmap.png",
    ]:
        assert (out / name).is_file(), name
    assert report == json.loads((out / "fit_report.json").read_text())
    assert report["chosen"] in ["linear", "loglinear", "gp", "ensemble"]
    assert set(report["models"]) == {"linear", "lightgbm", "loglinear", "gp", "ensemble"}  # baselines always reported
    for m in list(report["models"].values()) + [report["nested"]]:
        assert m["ci95"][0] <= m["cv_spearman"] <= m["ci95"][1]
        assert m["mse"] >= 0 and -1 <= m["pearson"] <= 1
    assert 0 < report["chosen_beats_lightgbm"]["p_value"] <= 1
    cv = pd.read_csv(out / "cv_predictions.csv")
    assert list(cv.columns) == ["index", "true", "prediction"] and len(cv) == 30
    # The law is log-linear, so the honest accuracy of the choice is high.
    assert report["nested"]["cv_spearman"] > 0.9


def test_fit_is_deterministic(data, fitted, tmp_path):
    fit_dir(*data, TARGET, tmp_path, fast_config(figures=True))
    out, _ = fitted
    for name in [
        "fit_report.json",
        "cv_predictions.csv",
        "cv_predictions_all.csv",
        "ols.csv",
        "interactions.csv",
        "figures/predicted_vs_true.png",
    ]:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_load_model_and_predict_csv(data, fitted, tmp_path):
    out, report = fitted
    model = load_model(out)
    assert model.domains == DOMAINS and model.name == report["chosen"]
    predict_csv(out, data[0], tmp_path / "p.csv")
    pred = pd.read_csv(tmp_path / "p.csv")
    mixtures = pd.read_csv(data[0])
    assert list(pred.columns) == ["index", "prediction"] and list(pred["index"]) == list(mixtures["index"])
    np.testing.assert_allclose(pred["prediction"], model.predict(mixtures.drop(columns="index")), rtol=1e-8)
    np.testing.assert_allclose(model.predict(mixtures.drop(columns="index").to_numpy()), pred["prediction"], rtol=1e-8)


def test_predict_rejects_columns_that_differ_from_fit_time(data, fitted, tmp_path):
    out, _ = fitted
    mixtures = pd.read_csv(data[0])
    cols = list(mixtures.columns)
    mixtures[[cols[0], cols[2], cols[1], *cols[3:]]].to_csv(tmp_path / "swapped.csv", index=False)
    with pytest.raises(InputError, match=r"swapped.csv, header: columns .* differ from the expected"):
        predict_csv(out, tmp_path / "swapped.csv", tmp_path / "p.csv")
    mixtures.drop(columns=cols[-1]).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match="short.csv"):
        predict_csv(out, tmp_path / "short.csv", tmp_path / "p.csv")
    with pytest.raises(InputError, match="columns"):
        load_model(out).predict(np.ones((2, 3)))


def test_bad_inputs_are_clear_errors(data, tmp_path):
    m, l = data
    with pytest.raises(InputError, match="metric/nope") as e:
        fit_dir(m, l, "metric/nope", tmp_path, fast_config())
    assert "metric/code_val_loss" in str(e.value)  # the fix lists the columns that exist
    losses = pd.read_csv(l)
    losses.loc[3, TARGET] = np.nan
    losses.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(InputError, match="index 4"):
        fit_dir(m, tmp_path / "nan.csv", TARGET, tmp_path / "o", fast_config())
    losses = pd.read_csv(l)
    losses["index"] += 1000
    losses.to_csv(tmp_path / "shifted.csv", index=False)
    with pytest.raises(InputError, match="join"):
        fit_dir(m, tmp_path / "shifted.csv", TARGET, tmp_path / "o", fast_config())
    mixtures = pd.read_csv(m)
    mixtures["train_web"] = mixtures["train_web"].astype(object)
    mixtures.loc[2, "train_web"] = "abc"
    mixtures.to_csv(tmp_path / "badw.csv", index=False)
    with pytest.raises(InputError, match="train_web"):
        fit_dir(tmp_path / "badw.csv", l, TARGET, tmp_path / "o", fast_config())
    with pytest.raises(InputError, match="not found"):
        fit_dir(tmp_path / "missing.csv", l, TARGET, tmp_path / "o", fast_config())


def test_config_is_validated_with_params_field_names():
    with pytest.raises(InputError, match=r"regression.candidates\[1\]: value 'xgboost'"):
        build(RegressionConfig, {"candidates": ["linear", "xgboost"]}, "regression")
    with pytest.raises(InputError, match="regression.lightgbm.nope"):
        build(RegressionConfig, {"lightgbm": {"nope": 1}}, "regression")
    with pytest.raises(InputError, match="regression.folds"):
        build(RegressionConfig, {"folds": 1}, "regression")
    assert RegressionConfig(gp={"eps": 0.01}).gp.eps == 0.01


def test_cv_never_sees_held_out_losses(data):
    """Changing the held-out rows' losses changes neither their CV nor their nested-CV predictions."""
    from regmix.regression.fit import read_training_data

    weights, y = read_training_data(*data, TARGET)
    X, y = weights.to_numpy(), y.to_numpy()
    config = fast_config()
    folds = folds_of(len(y), 3, 0)
    names = ["linear", "loglinear", "gp", "ensemble"]
    preds = cv_predictions(names, X, y, folds, config)
    nested, _ = nested_cv(names, X, y, config, preds, folds)
    test = folds[0][1]
    y2 = y.copy()
    y2[test] = np.random.default_rng(1).permutation(y[test]) + 5.0
    preds2 = cv_predictions(names, X, y2, folds, config)
    nested2, _ = nested_cv(names, X, y2, config, preds2, folds)
    for n in names:
        np.testing.assert_allclose(preds[n][test], preds2[n][test], rtol=1e-6)
    np.testing.assert_allclose(nested[test], nested2[test], rtol=1e-6)


def test_bootstrap_ci_and_paired_test():
    rng = np.random.default_rng(0)
    true = rng.normal(size=200)
    good, bad = true + rng.normal(0, 0.1, 200), true + rng.normal(0, 2, 200)
    boot = bootstrap_indices(200, 500, 0)
    acc = accuracy(true, good, boot)
    assert acc["ci95"][0] < acc["cv_spearman"] < acc["ci95"][1]
    assert paired_bootstrap(true, good, bad, boot)["p_value"] < 0.01
    assert paired_bootstrap(true, bad, good, boot)["p_value"] > 0.99


def test_paper_data_linear_and_lightgbm(tmp_path):
    """The paper's 512 proxies: LightGBM beats linear on Pile-CC (few rounds, so the test is quick)."""
    if not PAPER.is_dir():
        pytest.skip(f"paper data not found at {PAPER} (the shared regmix-paper-data folder is absent)")
    config = RegressionConfig(
        candidates=["linear", "lightgbm"],
        folds=4,
        nested=False,
        n_bootstrap=100,
        figures=False,
        lightgbm={"n_estimators": 100, "learning_rate": 0.1},
    )
    report = fit_dir(
        PAPER / "train_mixture_1m.csv",
        PAPER / "train_pile_loss_1m.csv",
        "metric/the_pile_pile_cc_val_loss",
        tmp_path,
        config,
    )
    assert report["n_proxies"] == 512 and len(report["domains"]) == 17
    assert 0.85 < report["models"]["linear"]["cv_spearman"] < 0.92
    assert report["models"]["lightgbm"]["cv_spearman"] > 0.96
    assert report["chosen"] == "lightgbm"
    assert "pile_cc" in " ".join(report["significance"]["significant_domains"])


def test_gp_likelihood_gradient_and_fit():
    """The GP's analytic gradient matches finite differences, and it recovers a smooth function."""
    from scipy.optimize import check_grad

    from regmix.regression.estimators import LogWeightGP

    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(4), size=60)
    y = np.log(w[:, 0] + 0.01) + 0.5 * np.sqrt(w[:, 1]) + rng.normal(0, 0.01, 60)
    gp = LogWeightGP()
    Z, yn = np.log(w + 0.001), (y - y.mean()) / y.std()
    theta = np.r_[0.1, np.log([1.0, 2.0, 3.0, 4.0]), np.log(0.05)]
    err = check_grad(lambda t: gp._neg_lml(t, Z, yn)[0], lambda t: gp._neg_lml(t, Z, yn)[1], theta)
    assert err < 1e-4 * np.linalg.norm(gp._neg_lml(theta, Z, yn)[1])
    fitted = LogWeightGP().fit(w[:40], y[:40])
    assert np.corrcoef(fitted.predict(w[40:]), y[40:])[0, 1] > 0.95
    assert fitted.length_scales_.shape == (4,)
