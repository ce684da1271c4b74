"""Simulation: top-k mean over Dirichlet candidates, caps, bootstrap band, priors, determinism, speed."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from regmix.config.mixtures import MixtureConfig
from regmix.config.params import build
from regmix.config.regression import RegressionConfig
from regmix.config.simulation import SimulationConfig
from regmix.errors import InputError
from regmix.formats import read_mixture_yaml, write_mixture_yaml, write_mixtures_csv
from regmix.mixtures.sampling import sample_candidates, sample_mixtures
from regmix.regression.estimators import make_estimator
from regmix.regression.fit import fit_dir
from regmix.simulation.simulate import predict_chunks, read_prior, simulate_dir, top_k_mean

DOMAINS = ["web", "wiki", "code", "math"]
TARGET = "metric/wiki_val_loss"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A log-linear-law model whose best mixture is mostly wiki."""
    folder = tmp_path_factory.mktemp("sim")
    mixtures = sample_mixtures({d: 0.25 for d in DOMAINS}, 32, MixtureConfig(), 0)
    w = np.array([[m[d] for d in DOMAINS] for m in mixtures])
    losses = pd.DataFrame(
        {"index": np.arange(1, 33), TARGET: 3.0 - 0.3 * np.log(w @ np.array([0.3, 0.6, 0.0, 0.1]) + 0.02)}
    )
    write_mixtures_csv(folder / "m.csv", mixtures, DOMAINS)
    losses.to_csv(folder / "l.csv", index=False)
    config = RegressionConfig(
        candidates=["loglinear"],
        folds=3,
        nested=False,
        n_bootstrap=100,
        figures=False,
        lightgbm={"n_estimators": 20, "min_child_samples": 5},
    )
    fit_dir(folder / "m.csv", folder / "l.csv", TARGET, folder / "model", config)
    write_mixture_yaml(folder / "prior.yaml", {"web": 0.4, "wiki": 0.2, "code": 0.3, "math": 0.1})
    return folder / "model"


def small(**kw) -> SimulationConfig:
    return SimulationConfig(
        **{**dict(n_candidates=20_000, top_k=50, n_bootstrap=4, bootstrap_candidates=5_000, chunk_size=7_000), **kw}
    )


def test_simulate_dir_outputs(model_dir, tmp_path):
    prior = model_dir.parent / "prior.yaml"
    summary = simulate_dir(model_dir, prior, tmp_path, small())
    # The law's loss falls with every domain's weight, fastest with wiki's: the best candidates are
    # (after min_weight zeroing) pure wiki, so the top-k mean is exactly that.
    assert summary["optimal"] == pytest.approx({"web": 0.0, "wiki": 1.0, "code": 0.0, "math": 0.0})
    written = read_mixture_yaml(tmp_path / "optimal_mixture.yaml", DOMAINS)
    assert written == pytest.approx({"web": 0.0, "wiki": 1.0, "code": 0.0, "math": 0.0})
    assert summary["predicted_loss"]["optimal"] < summary["predicted_loss"]["prior"]
    band = pd.read_csv(tmp_path / "band.csv")
    assert list(band.columns) == ["domain", "prior", "optimal", "low", "high"] and list(band["domain"]) == DOMAINS
    assert band["prior"].tolist() == pytest.approx([0.4, 0.2, 0.3, 0.1])
    hist = pd.read_csv(tmp_path / "simulated_losses.csv")
    assert list(hist.columns) == ["bin_left", "bin_right", "count"] and len(hist) == small().histogram_bins
    assert (tmp_path / "figures" / "mixture_band.png").is_file() and (
        tmp_path / "figures" / "simulated_losses.png"
    ).is_file()


W_STAR = np.array([0.1, 0.4, 0.3, 0.2])


@pytest.fixture(scope="module")
def quadratic_dir(tmp_path_factory):
    """A GP on sqrt-weights fitted to 60 proxies of L(w) = 2 + 5 |w - w*|^2, whose optimum w* is inside the simplex."""
    folder = tmp_path_factory.mktemp("quadratic")
    mixtures = sample_mixtures({d: 0.25 for d in DOMAINS}, 60, MixtureConfig(), 0)
    w = np.array([[m[d] for d in DOMAINS] for m in mixtures])
    losses = pd.DataFrame({"index": np.arange(1, 61), TARGET: 2.0 + 5.0 * ((w - W_STAR) ** 2).sum(axis=1)})
    write_mixtures_csv(folder / "m.csv", mixtures, DOMAINS)
    losses.to_csv(folder / "l.csv", index=False)
    config = RegressionConfig(candidates=["gp_sqrt"], folds=3, nested=False, n_bootstrap=100, figures=False)
    fit_dir(folder / "m.csv", folder / "l.csv", TARGET, folder / "model", config)
    write_mixture_yaml(folder / "prior.yaml", {"web": 0.4, "wiki": 0.2, "code": 0.3, "math": 0.1})
    return folder / "model"


def test_simulation_finds_a_known_interior_optimum(quadratic_dir, tmp_path):
    summary = simulate_dir(quadratic_dir, quadratic_dir.parent / "prior.yaml", tmp_path, small(n_bootstrap=6))
    optimal = np.array([summary["optimal"][d] for d in DOMAINS])
    assert np.abs(optimal - W_STAR).max() < 0.02  # the prior is 0.15 away
    assert summary["predicted_loss"]["optimal"] == pytest.approx(2.0, abs=0.01)
    # Refits on resampled proxies differ, so the band has width (refits on the same rows would give none).
    low, high = (np.array([summary["band"][d][i] for d in DOMAINS]) for i in (0, 1))
    assert np.all(high - low > 0.001) and np.abs((low + high) / 2 - W_STAR).max() < 0.06


def test_top_k_mean_of_a_known_quadratic():
    """The mean of the 100 best of 200,000 candidates sits on the minimum of a quadratic loss."""
    candidates = sample_candidates({d: 0.25 for d in DOMAINS}, 200_000, MixtureConfig(), 0)
    optimal = top_k_mean(candidates, ((candidates - W_STAR) ** 2).sum(axis=1), 100)
    np.testing.assert_allclose(optimal, W_STAR, atol=0.01)


def test_simulation_is_deterministic(model_dir, tmp_path):
    """The same outputs twice, and with chunks predicted in threads."""
    prior = model_dir.parent / "prior.yaml"
    simulate_dir(model_dir, prior, tmp_path / "a", small())
    simulate_dir(model_dir, prior, tmp_path / "b", small(threads=2))
    for name in [
        "optimal_mixture.yaml",
        "band.csv",
        "simulated_losses.csv",
        "simulation.json",
        "figures/mixture_band.png",
    ]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_predicting_chunks_in_threads_equals_one_prediction():
    """Uneven chunks of a LightGBM model's candidates, in 1 to 3 threads: each row's value is that of one call."""
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.ones(4), 200)
    est = make_estimator("lightgbm", RegressionConfig(lightgbm={"n_estimators": 30, "min_child_samples": 5}))
    est.fit(X, X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(0, 0.01, 200))
    candidates = rng.dirichlet(np.ones(4), 10_001)
    expected = est.predict(candidates)
    assert np.unique(expected).size > 20  # a model that predicts many values, so a misplaced chunk shows
    for chunk, threads in [(10_001, 1), (3_000, 2), (7, 3), (100_000, 2)]:
        assert np.array_equal(predict_chunks(est, candidates, chunk, threads), expected), (chunk, threads)


def test_caps_are_respected(model_dir, tmp_path):
    summary = simulate_dir(
        model_dir, model_dir.parent / "prior.yaml", tmp_path, small(n_bootstrap=0), caps={"wiki": 0.1}
    )
    assert summary["optimal"]["wiki"] <= 0.1 + 1e-9
    assert summary["n_within_caps"] < 20_000
    with pytest.raises(InputError, match="top_k"):
        simulate_dir(
            model_dir, model_dir.parent / "prior.yaml", tmp_path, small(n_bootstrap=0), caps={d: 0.3 for d in DOMAINS}
        )
    with pytest.raises(InputError, match="nope"):
        simulate_dir(model_dir, model_dir.parent / "prior.yaml", tmp_path, small(n_bootstrap=0), caps={"nope": 0.5})


def test_read_prior_formats_and_errors(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"web": 300, "wiki": 100, "code": 100}))
    assert read_prior(tmp_path / "p.json", DOMAINS) == pytest.approx(
        {"web": 0.6, "wiki": 0.2, "code": 0.2, "math": 0.0}
    )
    (tmp_path / "p.csv").write_text("domain,tokens\nweb,1\ntrain_math,3\n")
    assert read_prior(tmp_path / "p.csv", DOMAINS) == pytest.approx(
        {"web": 0.25, "wiki": 0.0, "code": 0.0, "math": 0.75}
    )
    write_mixture_yaml(tmp_path / "bad.yaml", {"web": 0.5, "books": 0.5})
    with pytest.raises(InputError, match="books"):
        read_prior(tmp_path / "bad.yaml", DOMAINS)
    with pytest.raises(InputError, match="not found"):
        read_prior(tmp_path / "none.yaml", DOMAINS)


def test_config_validation():
    with pytest.raises(InputError, match="simulation.top_k"):
        build(SimulationConfig, {"n_candidates": 10, "top_k": 100}, "simulation")
    with pytest.raises(InputError, match="simulation.dirichlet.nope"):
        build(SimulationConfig, {"dirichlet": {"nope": 1}}, "simulation")
    assert SimulationConfig(dirichlet={"temperature": 0.5}).dirichlet.temperature == 0.5


def test_top_k_mean():
    cands = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_allclose(top_k_mean(cands, np.array([3.0, 1.0, 2.0]), 2), [0.25, 0.75])


def test_one_million_candidates_is_fast(model_dir, tmp_path):
    start = time.perf_counter()
    summary = simulate_dir(
        model_dir, model_dir.parent / "prior.yaml", tmp_path, SimulationConfig(n_bootstrap=0, figures=False)
    )
    assert summary["n_candidates"] == 1_000_000 and summary["n_within_caps"] == 1_000_000
    assert time.perf_counter() - start < 30
