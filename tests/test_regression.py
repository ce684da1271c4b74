"""Regression: candidates, honest CV, the model choice, the fit report, the plain-data model file, clear errors."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regmix.config.mixtures import MixtureConfig
from regmix.config.params import build
from regmix.config.regression import RegressionConfig
from regmix.errors import InputError
from regmix.formats import read_training_data, write_mixtures_csv
from regmix.mixtures.sampling import sample_mixtures
from regmix.regression.cv import (
    accuracy,
    bootstrap_indices,
    cv_predictions,
    folds_of,
    nested_cv,
    paired_bootstrap,
)
from regmix.regression.fit import fit_dir
from regmix.regression.saved import fit_model, load_model, load_training_data, predict_csv, save_model

DOMAINS = ["web", "wiki", "code", "math", "legal"]
TARGET = "metric/wiki_val_loss"
PAPER = Path(__file__).resolve().parents[1].parent / "shared" / "regmix-paper-data"
CANDIDATES = ["linear", "lightgbm", "lightgbm_reg", "loglinear", "gp", "gp_sqrt", "ensemble"]


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


# Ten domains for the saved-model tests: with 8 or more, BLAS sums a GP's kernel in an order that
# depends on the arrays' memory layout, which a loaded model must then match bit for bit.
MANY = [f"d{i}" for i in range(10)]


def mixtures_of(domains: list[str], n: int, seed: int) -> np.ndarray:
    mixtures = sample_mixtures({d: 1 / len(domains) for d in domains}, n, MixtureConfig(), seed)
    return np.array([[m[d] for d in domains] for m in mixtures])


def new_mixtures(n: int = 400) -> np.ndarray:
    """Mixtures over MANY that no model was fitted on."""
    return mixtures_of(MANY, n, 7)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def fitted(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    report = fit_dir(*data, TARGET, out, fast_config(figures=True))
    return out, report


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Every candidate fitted on 100 proxies over 10 domains and saved: {name: (in-memory model, its directory)}."""
    w = mixtures_of(MANY, 100, 0)
    X = np.asfortranarray(w)  # the layout pandas gives (DataFrame.to_numpy), as fit_dir's rows have it
    y = 3.0 - 0.3 * np.log(w @ np.linspace(0.0, 0.2, 10) + 0.02) + np.random.default_rng(0).normal(0, 0.01, 100)
    config = fast_config(
        lightgbm={"n_estimators": 40, "min_child_samples": 5},
        lightgbm_reg={"n_estimators": 40, "min_child_samples": 5, "num_leaves": 8, "subsample": 0.8, "colsample": 0.8},
        ensemble_members=["gp", "gp_sqrt", "lightgbm_reg"],
    )
    out = {}
    for name in CANDIDATES:
        model = fit_model(name, X, y, MANY, TARGET, config)
        folder = tmp_path_factory.mktemp(name)
        save_model(model, folder, X, y, range(1, 101))
        out[name] = model, folder
    return out


def test_fit_dir_writes_model_report_and_predictions(fitted):
    out, report = fitted
    for name in [
        "model/model.json",
        "training_data.csv",
        "fit_report.json",
        "cv_predictions.csv",
        "ols.csv",
        "spearman.csv",
        "interactions.csv",
        "figures/predicted_vs_true.png",
        "figures/spearman_heatmap.png",
    ]:
        assert (out / name).is_file(), name
    assert not (out / "model.pkl").exists()
    assert set(report["models"]) == {"linear", "lightgbm", "loglinear", "gp", "ensemble"}  # baselines always reported
    # The reported scores are those of the written out-of-fold predictions.
    cv_all = pd.read_csv(out / "cv_predictions_all.csv")
    for name, m in report["models"].items():
        assert m["cv_spearman"] == pytest.approx(stats.spearmanr(cv_all[name], cv_all["true"])[0], abs=1e-9)
        assert m["mse"] == pytest.approx(np.mean((cv_all[name] - cv_all["true"]) ** 2), rel=1e-6)
    # The law is log-linear: the law's own form beats OLS on raw weights, and the honest accuracy of the choice is high.
    assert report["models"]["loglinear"]["cv_spearman"] > report["models"]["linear"]["cv_spearman"]
    assert report["nested"]["cv_spearman"] > 0.9
    # No resample favoured 30-round LightGBM on 20 rows: p sits at its floor, and the report says it is one.
    vs_lgbm = report["chosen_beats_lightgbm"]
    assert vs_lgbm["p_value"] == vs_lgbm["p_value_floor"] == 1 / 101
    assert vs_lgbm["p_value_text"] == "p < 0.0099"


def test_fit_is_deterministic(data, fitted, tmp_path):
    fit_dir(*data, TARGET, tmp_path, fast_config(figures=True))
    out, _ = fitted
    for name in [
        "model/model.json",
        "fit_report.json",
        "cv_predictions.csv",
        "cv_predictions_all.csv",
        "ols.csv",
        "interactions.csv",
        "figures/predicted_vs_true.png",
    ]:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_linear_cv_predictions_are_out_of_fold_ols(data):
    """`linear`'s CV predictions are those of OLS (with intercept) fitted on the other folds only."""
    weights, y = read_training_data(*data, TARGET)
    X, y = weights.to_numpy(float), y.to_numpy(float)
    folds = folds_of(len(y), 3, 0)
    pred = cv_predictions(["linear"], X, y, folds, fast_config())["linear"]
    expected = np.empty(len(y))
    for train, test in folds:
        # Centred least squares: the weights sum to ~1, so the intercept is fitted on centred data.
        x_mean, y_mean = X[train].mean(axis=0), y[train].mean()
        beta = np.linalg.lstsq(X[train] - x_mean, y[train] - y_mean, rcond=None)[0]
        expected[test] = (X[test] - x_mean) @ beta + y_mean
    np.testing.assert_allclose(pred, expected, rtol=1e-9)
    assert not np.allclose(pred, fit_model("linear", X, y, DOMAINS, TARGET, fast_config()).predict(X), rtol=1e-3)


@pytest.mark.parametrize("name", CANDIDATES)
def test_saved_model_predicts_exactly_what_the_fitted_one_did(saved, name):
    model, folder = saved[name]
    loaded = load_model(folder)
    new = new_mixtures()
    pred = model.predict(new)
    assert np.array_equal(loaded.predict(new), pred)
    assert len(np.unique(pred)) > 5  # a real fit, not a constant
    assert (loaded.name, loaded.domains, loaded.target, loaded.config) == (name, MANY, TARGET, model.config)
    # The saved config and training rows rebuild and refit the same model (as the simulation's bootstrap does).
    X, y, D = load_training_data(folder, MANY)
    assert D is None
    assert np.array_equal(loaded.refit(X, y).predict(new), pred)


class _Planted:
    """Unpickling this touches `path`: a stand-in for any code a model file could run."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return Path.touch, (self.path,)


def test_loading_never_unpickles(saved, tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    payload = pickle.dumps(_Planted(marker))
    model, folder = saved["ensemble"]
    beside = tmp_path / "beside"
    shutil.copytree(folder, beside)
    (beside / "model.pkl").write_bytes(payload)  # planted next to a real model: ignored
    old = tmp_path / "old"
    old.mkdir()
    (old / "model.pkl").write_bytes(payload)  # the old format alone: refused

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used while loading a model")

    for name in ("load", "loads", "Unpickler", "_load", "_loads", "_Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    new = new_mixtures()
    assert np.array_equal(load_model(beside).predict(new), model.predict(new))
    with pytest.raises(
        InputError, match=r"old/model\.pkl: a model in the old pickle format.*Fix: refit with `regmix fit"
    ):
        load_model(old)
    monkeypatch.undo()
    assert not marker.exists()
    pickle.loads(payload)  # the control: the planted file was live, unpickling it runs its code
    assert marker.exists()
    # Refitting into the old directory replaces the pickle with the plain-data model.
    X, y, _ = load_training_data(folder, MANY)
    save_model(model, old, X, y, range(1, len(y) + 1))
    assert not (old / "model.pkl").exists()
    assert np.array_equal(load_model(old).predict(new), model.predict(new))


def _edit_json(edit):
    def apply(folder: Path) -> None:
        path = folder / "model" / "model.json"
        doc = json.loads(path.read_text())
        edit(doc)
        path.write_text(json.dumps(doc))

    return apply


def _edit_tree(key: str, edit, file: str = "lightgbm.txt"):
    """Edit `key`'s values in the first tree that splits, keeping tree_sizes consistent (as a deliberate edit would)."""

    def apply(folder: Path) -> None:
        path = folder / "model" / file
        head, _, body = path.read_text().partition("\n\n")
        sizes = [int(s) for s in re.search(r"^tree_sizes=(.*)$", head, re.M).group(1).split()]
        blocks, pos = [], 0
        for size in sizes:
            blocks.append(body[pos : pos + size])
            pos += size
        i = next(i for i, b in enumerate(blocks) if "\nnum_leaves=1\n" not in b)
        lines = blocks[i].split("\n")
        j = next(j for j, line in enumerate(lines) if line.startswith(key + "="))
        lines[j] = key + "=" + " ".join(edit(lines[j].split("=", 1)[1].split(" ")))
        blocks[i] = "\n".join(lines)
        head = re.sub(r"^tree_sizes=.*$", "tree_sizes=" + " ".join(str(len(b)) for b in blocks), head, flags=re.M)
        path.write_text(head + "\n\n" + "".join(blocks) + body[pos:])

    return apply


def _set_first(value: str):
    return lambda values: [value, *values[1:]]


def _truncate(folder: Path) -> None:
    path = folder / "model" / "lightgbm.txt"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


TAMPERED = {
    "not JSON": (
        "linear",
        lambda f: (f / "model" / "model.json").write_text("{not json"),
        "model.json: not valid JSON",
    ),
    "other format": ("linear", _edit_json(lambda d: d.update(version=1)), "model.json: not a regmix model"),
    "unknown model": ("linear", _edit_json(lambda d: d.update(name="xgboost")), "field name: value 'xgboost'"),
    "short array": (
        "linear",
        _edit_json(lambda d: d["estimator"]["coef_"].pop()),
        r"estimator\.coef_: has shape \(9,\), expected \(10,\)",
    ),
    "text in array": (
        "gp",
        _edit_json(lambda d: d["estimator"]["alpha_"].__setitem__(3, "x")),
        r"estimator\.alpha_: is not an array of numbers",
    ),
    "NaN parameter": (
        "loglinear",
        _edit_json(lambda d: d["estimator"]["params_"].__setitem__(0, float("nan"))),
        r"estimator\.params_: contains NaN",
    ),
    "bad config": ("gp", _edit_json(lambda d: d["config"]["gp"].update(eps=-1)), r"field config: regression\.gp\.eps"),
    "ensemble member": (
        "ensemble",
        _edit_json(lambda d: d["estimator"]["members"].pop("gp")),
        r"estimator\.members: members .* differ",
    ),
    "LightGBM file missing": ("lightgbm", lambda f: (f / "model" / "lightgbm.txt").unlink(), "lightgbm.txt: missing"),
    "LightGBM truncated": ("lightgbm", _truncate, r"lightgbm\.txt: tree \d+ does not match tree_sizes"),
    "LightGBM cycle": ("lightgbm", _edit_tree("right_child", _set_first("0")), r"node 0 has child 0"),
    "LightGBM child out of range": ("lightgbm", _edit_tree("left_child", _set_first("-99")), r"has child -99"),
    "LightGBM feature out of range": ("lightgbm", _edit_tree("split_feature", _set_first("10")), "outside 0..9"),
    "LightGBM categorical split": ("lightgbm", _edit_tree("decision_type", _set_first("1")), "not a numerical split"),
    "LightGBM array length": ("lightgbm", _edit_tree("threshold", lambda v: v[1:]), r"threshold has \d+ values"),
    "LightGBM not a number": ("lightgbm", _edit_tree("leaf_value", _set_first("abc")), "other than numbers"),
    "LightGBM overflow": ("lightgbm", _edit_tree("leaf_value", _set_first("1e999")), "out of range"),
    "LightGBM in an ensemble": (
        "ensemble",
        _edit_tree("right_child", _set_first("0"), "lightgbm_reg.txt"),
        r"lightgbm_reg\.txt: tree \d+ node 0 has child 0",
    ),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_tampered_or_malformed_model_files_are_one_clear_error(saved, case, tmp_path):
    name, tamper, match = TAMPERED[case]
    folder = tmp_path / name
    shutil.copytree(saved[name][1], folder)
    tamper(folder)
    with pytest.raises(InputError, match=match) as e:
        load_model(folder)
    assert "Fix: refit with `regmix fit" in str(e.value)


def test_tree_edit_helper_keeps_a_valid_model(saved, tmp_path):
    """The control for the LightGBM cases above: an edit that changes nothing loads and predicts the same."""
    model, folder = saved["lightgbm"]
    shutil.copytree(folder, tmp_path / "m")
    _edit_tree("right_child", lambda values: values)(tmp_path / "m")
    new = new_mixtures()
    assert np.array_equal(load_model(tmp_path / "m").predict(new), model.predict(new))


def test_predict_csv_and_column_checks(data, fitted, tmp_path):
    out, report = fitted
    model = load_model(out)
    assert model.domains == DOMAINS and model.name == report["chosen"]
    predict_csv(out, data[0], tmp_path / "p.csv")
    pred = pd.read_csv(tmp_path / "p.csv")
    mixtures = pd.read_csv(data[0])
    assert list(pred["index"]) == list(mixtures["index"])
    # The chosen model fits the log-linear law: its predictions track the training losses closely.
    losses = pd.read_csv(data[1])[TARGET]
    assert stats.spearmanr(pred["prediction"], losses)[0] > 0.95
    mixtures[["index", "train_wiki", "train_web", *mixtures.columns[3:]]].to_csv(tmp_path / "swapped.csv", index=False)
    with pytest.raises(InputError, match=r"swapped.csv, header: columns .* differ from the expected"):
        predict_csv(out, tmp_path / "swapped.csv", tmp_path / "p.csv")
    mixtures.drop(columns="train_legal").to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match="short.csv"):
        predict_csv(out, tmp_path / "short.csv", tmp_path / "p.csv")
    with pytest.raises(InputError, match="columns"):
        model.predict(np.ones((2, 3)))


def equal_fold_sums(folder: Path, n: int = 30) -> tuple[Path, Path]:
    """make_data's losses on a 1/1024 grid, shifted so that the 3 CV folds (seed 0) have the same sum.

    Every fold's training rows then have exactly the same mean (sums of grid values are exact), so a
    model that can only predict the training mean predicts one constant across all out-of-fold rows.
    """
    m, l = make_data(folder, n)
    losses = pd.read_csv(l)
    y = np.round(losses[TARGET].to_numpy() * 1024) / 1024
    folds = folds_of(n, 3, 0)
    top = max(y[test].sum() for _, test in folds)
    for _, test in folds:
        y[test[0]] += top - y[test].sum()
    losses[TARGET] = y
    losses.to_csv(l, index=False)
    return m, l


def test_choice_ranks_a_nan_rho_last(tmp_path):
    """LightGBM with min_child_samples 20 on 20 training rows never splits and predicts the training mean,
    here the same in every fold: constant CV predictions, NaN rho.

    Listed first, it must still lose to linear (`max` over (rho, ...) tuples kept it: NaN compares
    neither greater nor smaller); if every candidate is NaN the first is chosen and the report says so.
    """
    data = equal_fold_sums(tmp_path)
    config = fast_config(candidates=["lightgbm", "linear"], lightgbm={"n_estimators": 30}, nested=False)
    report = fit_dir(*data, TARGET, tmp_path / "a", config)
    assert np.isnan(report["models"]["lightgbm"]["cv_spearman"]) and report["models"]["linear"]["cv_spearman"] > 0.5
    assert report["chosen"] == "linear" and "choice_warning" not in report
    all_nan = fast_config(
        candidates=["lightgbm", "lightgbm_reg"],
        lightgbm={"n_estimators": 30},
        lightgbm_reg={"n_estimators": 30, "min_child_samples": 20},
        nested=False,
    )
    report = fit_dir(*data, TARGET, tmp_path / "b", all_nan)
    assert np.isnan(report["models"]["lightgbm_reg"]["cv_spearman"]) and report["chosen"] == "lightgbm"
    assert "every candidate's CV Spearman rho is NaN" in report["choice_warning"]
    assert report["choice_warning"].endswith("chose the first candidate, lightgbm")


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


def test_bootstrap_ci_of_spearman_covers_the_true_rho():
    """Over repeated draws from a bivariate normal (Pearson r 0.6, so Spearman rho = 6/pi asin(0.3)), the
    95% CI covers the true rho in about 95% of draws: within a 3-sigma binomial band for 200 draws."""
    rng = np.random.default_rng(0)
    r, n, draws = 0.6, 80, 200
    true_rho = 6 / np.pi * np.arcsin(r / 2)
    boot = bootstrap_indices(n, 250, 1)
    covered = 0
    for _ in range(draws):
        x, z = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], n).T
        low, high = accuracy(z, x, boot)["ci95"]
        covered += low <= true_rho <= high
    assert 0.91 <= covered / draws <= 0.99


def test_paired_bootstrap_p_is_small_only_when_a_is_better():
    rng = np.random.default_rng(0)
    n = 80
    boot = bootstrap_indices(n, 200, 2)
    better, equal = [], []
    for _ in range(100):
        true = rng.normal(size=n)
        better.append(paired_bootstrap(true, true + rng.normal(0, 0.5, n), true + rng.normal(0, 1.5, n), boot))
        equal.append(paired_bootstrap(true, true + rng.normal(0, 1, n), true + rng.normal(0, 1, n), boot)["p_value"])
    assert np.mean([b["p_value"] < 0.05 for b in better]) > 0.95
    # Equally good models: p is spread out (about uniform), small only at about the nominal rate.
    assert np.mean(np.array(equal) < 0.05) < 0.12 and 0.3 < np.median(equal) < 0.7
    floor = [b for b in better if b["p_value"] == 1 / 201]
    assert floor and all(b["p_value_floor"] == 1 / 201 and b["p_value_text"] == "p < 0.005" for b in floor)


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
