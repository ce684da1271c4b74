"""Significance: robust OLS with corrected p-values, the Spearman heatmap, pairwise interactions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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


def test_ols_recovers_the_planted_effects(planted):
    weights, y, _ = planted
    table = ols_table(weights, y, correction="holm").set_index("domain")
    assert list(table.columns) == ["coef", "ci_low", "ci_high", "p_value", "p_corrected", "significant"]
    # Planted: L = 3 - 0.2 log(a) - 0.1 log(b) + noise. The CIs cover the true coefficients, tightly.
    for domain, true in (("a", -0.2), ("b", -0.1)):
        assert table.loc[domain, "ci_low"] < true < table.loc[domain, "ci_high"]
        assert abs(table.loc[domain, "coef"] - true) < 0.01 and table.loc[domain, "p_corrected"] < 1e-100
    assert table.loc[["a", "b"], "significant"].all() and not table.loc[["c", "d", "e"], "significant"].any()
    assert (table.loc[["c", "d", "e"], "coef"].abs() < 0.01).all()
    # Domain d is "significant" at 0.05 before correction (a false positive among 5 tests); Holm removes it.
    assert table.loc["d", "p_value"] < 0.05 < table.loc["d", "p_corrected"]


def test_ols_on_raw_weights_gives_pure_domain_losses(planted):
    """Without an intercept (weights sum to 1), each coefficient is the loss of a pure-domain mixture."""
    weights, _, _ = planted
    pure = np.array([3.0, 2.5, 3.2, 3.1, 3.3])
    y = pd.Series(weights.to_numpy() @ pure + np.random.default_rng(1).normal(0, 0.01, len(weights)))
    table = ols_table(weights, y, log_weights=False)
    np.testing.assert_allclose(table["coef"], pure, atol=0.01)


def test_correction_by_hand():
    """Holm: sorted p times (m, m-1, ...), running max; BH: sorted p times m/rank, running min from the top."""
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan])
    np.testing.assert_allclose(correct(p, "holm"), [0.04, 0.09, 0.09, 0.5, np.nan])
    np.testing.assert_allclose(correct(p, "fdr_bh"), [0.04, 0.16 / 3, 0.16 / 3, 0.5, np.nan])


def test_interactions_find_the_planted_pair(planted):
    weights, _, y = planted
    table = interaction_table(weights, y)
    assert len(table) == 10
    assert tuple(table.iloc[0][["domain_a", "domain_b"]]) == ("a", "b") and table.iloc[0]["significant"]
    # Each pair is tested alone, so a pair sharing a domain with the planted one may pick up a
    # little of its effect; the planted pair still stands out by orders of magnitude.
    assert table.iloc[0]["p_value"] < 1e-50 and (table["p_value"].iloc[1:] > 1e-5).all()


def test_spearman_matrix_values_and_constant_columns(planted):
    weights, y, _ = planted
    weights = weights.assign(f=0.0)
    a = weights["a"].to_numpy()
    losses = pd.DataFrame({"t1": y, "falls_with_a": 3 - np.log(a), "rises_with_a": a**2})
    table = spearman_matrix(weights, losses).set_index(["domain", "target"])
    assert len(table) == 18 and table.loc["f", "rho"].isna().all()
    # Monotone in a's weight: rank correlations of exactly -1 and +1, overwhelmingly significant.
    assert table.loc[("a", "falls_with_a"), "rho"] == pytest.approx(-1.0)
    assert table.loc[("a", "rises_with_a"), "rho"] == pytest.approx(1.0)
    assert table.loc[("a", "falls_with_a"), "p_corrected"] < 1e-100
    # The loss falls with a (coefficient -0.2 on log a): a clearly negative rank correlation.
    assert table.loc[("a", "t1"), "rho"] < -0.5


def test_paper_heatmap_pile_cc():
    if not PAPER.is_dir():
        pytest.skip(f"paper data not found at {PAPER} (the shared regmix-paper-data folder is absent)")
    w = pd.read_csv(PAPER / "train_mixture_1m.csv", index_col="index")
    l = pd.read_csv(PAPER / "train_pile_loss_1m.csv", index_col="index").loc[w.index]
    table = spearman_matrix(w, l, correction="fdr_bh").set_index(["domain", "target"])
    cell = table.loc[("train_the_pile_pile_cc", "metric/the_pile_pile_cc_val_loss")]
    assert cell["rho"] < -0.5 and cell["p_corrected"] < 1e-10
