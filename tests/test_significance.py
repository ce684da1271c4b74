"""Significance: robust OLS with corrected p-values, the Spearman heatmap, pairwise interactions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from regmix.regression.significance import correct, interaction_table, ols_table, spearman_matrix

PAPER = Path(__file__).resolve().parents[1].parent / "shared" / "regmix-paper-data"


@pytest.fixture(scope="module")
def planted():
    """Weights of 5 domains; losses that depend on a and b only, without and with their interaction."""
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(5), size=300)
    weights = pd.DataFrame(w, columns=list("abcde"))
    la, lb = np.log(w[:, 0] + 0.001), np.log(w[:, 1] + 0.001)
    main = 3.0 - 0.2 * la - 0.1 * lb + rng.normal(0, 0.05, 300)
    return weights, pd.Series(main), pd.Series(main + 0.05 * (la - la.mean()) * (lb - lb.mean()))


def test_ols_finds_the_domains_that_matter(planted):
    weights, y, _ = planted
    table = ols_table(weights, y, correction="holm")
    assert list(table.columns) == ["domain", "coef", "ci_low", "ci_high", "p_value", "p_corrected", "significant"]
    assert table.set_index("domain").loc[["a", "b"], "significant"].all()
    assert not table.set_index("domain").loc[["c", "d", "e"], "significant"].any()
    assert (table["ci_low"] <= table["coef"]).all() and (table["coef"] <= table["ci_high"]).all()
    assert (table["p_corrected"] >= table["p_value"]).all()
    raw = ols_table(weights, y, log_weights=False)  # no intercept: coefficients are pure-domain losses
    assert raw["coef"].notna().all()


def test_correction_matches_statsmodels():
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan])
    np.testing.assert_allclose(correct(p, "holm")[:4], multipletests(p[:4], method="holm")[1])
    np.testing.assert_allclose(correct(p, "fdr_bh")[:4], multipletests(p[:4], method="fdr_bh")[1])
    assert np.isnan(correct(p, "holm")[4])


def test_interactions_find_the_planted_pair(planted):
    weights, _, y = planted
    table = interaction_table(weights, y)
    assert len(table) == 10
    assert tuple(table.iloc[0][["domain_a", "domain_b"]]) == ("a", "b") and table.iloc[0]["significant"]
    # Each pair is tested alone, so a pair sharing a domain with the planted one may pick up a
    # little of its effect; the planted pair still stands out by orders of magnitude.
    assert table.iloc[0]["p_value"] < 1e-50 and (table["p_value"].iloc[1:] > 1e-5).all()


def test_spearman_matrix_shape_and_constant_columns(planted):
    weights, y, _ = planted
    weights = weights.assign(f=0.0)
    losses = pd.DataFrame({"t1": y, "t2": -y})
    table = spearman_matrix(weights, losses)
    assert len(table) == 12 and table.loc[table["domain"] == "f", "rho"].isna().all()
    a = table.set_index(["domain", "target"])
    assert a.loc[("a", "t1"), "rho"] == pytest.approx(-a.loc[("a", "t2"), "rho"])


def test_paper_heatmap_pile_cc():
    if not PAPER.is_dir():
        pytest.skip(f"paper data not found at {PAPER} (the shared regmix-paper-data folder is absent)")
    w = pd.read_csv(PAPER / "train_mixture_1m.csv", index_col="index")
    l = pd.read_csv(PAPER / "train_pile_loss_1m.csv", index_col="index").loc[w.index]
    table = spearman_matrix(w, l, correction="fdr_bh").set_index(["domain", "target"])
    cell = table.loc[("train_the_pile_pile_cc", "metric/the_pile_pile_cc_val_loss")]
    assert cell["rho"] < -0.5 and cell["p_corrected"] < 1e-10
