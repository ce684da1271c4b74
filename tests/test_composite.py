"""The composite regression: the target's loss as a non-negative sum of the training domains' losses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regmix.config.mixtures import MixtureConfig
from regmix.config.regression import RegressionConfig
from regmix.config.simulation import SimulationConfig
from regmix.errors import InputError
from regmix.formats import loss_column, write_mixture_yaml, write_mixtures_csv
from regmix.mixtures.sampling import sample_mixtures
from regmix.regression.estimators import fit_estimator
from regmix.regression.fit import fit_dir
from regmix.regression.saved import load_model, load_training_data
from regmix.simulation.simulate import simulate_dir

DOMAINS = [f"d{i}" for i in range(6)]
TARGET = "metric/target_val_loss"
S = np.array([0.5, 0.0, 0.3, 0.0, 0.2, 0.0])  # the target's planted composition: half the domains not in it
B = 0.7


def planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, domain losses, target loss): each domain's loss falls with its own weight and a neighbour's
    (a log law), the target's is B + S . losses plus noise."""
    mixtures = sample_mixtures({d: 1 / len(DOMAINS) for d in DOMAINS}, n, MixtureConfig(), seed)
    w = np.array([[m[d] for d in DOMAINS] for m in mixtures])
    useful = w + 0.3 * np.roll(w, 1, axis=1)
    D = 2.0 - 0.4 * np.log(useful + 0.01)
    y = B + D @ S + np.random.default_rng(seed).normal(0, 0.01, n)
    return w, D, y


def config(**kw) -> RegressionConfig:
    base = dict(candidates=["linear", "gp", "composite"], folds=3, inner_folds=2, n_bootstrap=100, figures=False)
    return RegressionConfig(**{**base, **kw})


def test_composite_recovers_the_planted_composition_and_predicts_new_mixtures():
    w, D, y = planted(60, 0)
    est = fit_estimator("composite", config(), w, y, D)
    np.testing.assert_allclose(est.coef_, S, atol=0.03)
    assert abs(est.intercept_ - B) < 0.15
    # a domain the fit leaves out gets no model at all; the others the mean of gp and gp_sqrt
    assert 0.0 in est.coef_
    assert [len(m) for m in est.fitted_] == [2 if s > 0 else 0 for s in est.coef_]
    new_w, new_D, _ = planted(300, 1)
    truth = B + new_D @ S
    pred = est.predict(new_w)
    assert stats.spearmanr(pred, truth)[0] > 0.97
    assert np.mean(np.abs(pred - truth)) < 0.05
    # the target's own GP, from the same 60 rows, is further off: the domains' losses are what the composite adds
    alone = fit_estimator("gp", config(), w, y).predict(new_w)
    assert np.mean(np.abs(pred - truth)) < 0.7 * np.mean(np.abs(alone - truth))


def write_csvs(folder: Path, w: np.ndarray, D: np.ndarray, y: np.ndarray, drop: str | None = None) -> tuple[Path, Path]:
    write_mixtures_csv(folder / "m.csv", [dict(zip(DOMAINS, row, strict=True)) for row in w], DOMAINS)
    losses = pd.DataFrame({"index": np.arange(1, len(y) + 1), TARGET: y})
    for j, d in enumerate(DOMAINS):
        if d != drop:
            losses[loss_column(d)] = D[:, j]
    losses.to_csv(folder / "l.csv", index=False)
    return folder / "m.csv", folder / "l.csv"


@pytest.fixture(scope="module")
def composite_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("composite")
    w, D, y = planted(60, 0)
    report = fit_dir(*write_csvs(folder, w, D, y), TARGET, folder / "fit", config())
    return folder / "fit", report


def test_fit_dir_chooses_the_composite_and_saves_what_a_refit_needs(composite_dir):
    out, report = composite_dir
    assert report["chosen"] == "composite"
    assert report["models"]["composite"]["cv_spearman"] > report["models"]["gp"]["cv_spearman"] + 0.02
    model = load_model(out)
    assert model.name == "composite"
    np.testing.assert_allclose(model.estimator.coef_, S, atol=0.03)
    X, y, D = load_training_data(out, DOMAINS)
    w, D0, y0 = planted(60, 0)
    assert np.array_equal(D, D0) and np.array_equal(y, y0)
    new_w = planted(50, 2)[0]
    # the loaded model predicts what a refit on the saved rows (with their domain losses) predicts, to the bit
    assert np.array_equal(model.predict(new_w), model.refit(X, y, D).predict(new_w))


def test_simulation_with_the_composite_weights_the_target_s_domains(composite_dir, tmp_path):
    out, _ = composite_dir
    write_mixture_yaml(tmp_path / "prior.yaml", {d: 1 / len(DOMAINS) for d in DOMAINS})
    cfg = SimulationConfig(n_candidates=3000, top_k=20, n_bootstrap=2, bootstrap_candidates=1000, figures=False)
    summary = simulate_dir(out, tmp_path / "prior.yaml", tmp_path / "sim", cfg)
    optimal = np.array([summary["optimal"][d] for d in DOMAINS])
    # d0, d2 and d4 make up the target; d5, d1 and d3 help them only as their neighbours (a third as much)
    assert optimal[[0, 2, 4]].sum() > 0.6
    assert optimal[0] > optimal[3]


def test_composite_without_a_domain_s_loss_is_a_clear_error(tmp_path):
    w, D, y = planted(30, 0)
    files = write_csvs(tmp_path, w, D, y, drop="d3")
    with pytest.raises(InputError, match=r"l\.csv, column 'metric/d3_val_loss': not in the losses CSV.*drop composite"):
        fit_dir(*files, TARGET, tmp_path / "fit", config())
    # without the composite among the candidates, the same files fit
    assert fit_dir(*files, TARGET, tmp_path / "fit", config(candidates=["linear", "gp"]))["chosen"] == "gp"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda e: e["coef_"].__setitem__(1, -0.1), r"coef_: has negative domain weights"),
        (  # models for a domain of weight 0
            lambda e: e["domains"].__setitem__(e["coef_"].index(0.0), e["domains"][0]),
            r"domains\[\d\]: members \['gp', 'gp_sqrt'\], expected \[\] \(weight 0\)",
        ),
        (lambda e: e.pop("intercept_"), r"fields \['coef_', 'domains'\] are not the composite's"),
    ],
)
def test_a_tampered_composite_file_is_refused(composite_dir, tmp_path, edit, message):
    out, _ = composite_dir
    folder = tmp_path / "copy"
    (folder / "model").mkdir(parents=True)
    doc = json.loads((out / "model" / "model.json").read_text())
    edit(doc["estimator"])
    (folder / "model" / "model.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match=message):
        load_model(folder)
