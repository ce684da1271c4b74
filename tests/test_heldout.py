"""Held-out scoring: per-document test losses of a litgpt model and paired bootstrap intervals."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from regmix.config.training import ModelConfig
from regmix.evaluation.bootstrap import paired_comparison, resampled_losses
from regmix.evaluation.heldout import document_ids, document_losses
from regmix.training.model import build_model

EOS = 0


def test_each_predicted_token_belongs_to_its_document():
    # documents [5 6 EOS] [7 8 9 EOS] [4 EOS]: position 0 is never predicted
    tokens = np.array([5, 6, EOS, 7, 8, 9, EOS, 4, EOS])
    assert document_ids(tokens, EOS).tolist() == [0, 0, 1, 1, 1, 1, 2, 2]


@pytest.mark.parametrize("n_tokens", [4 * 8 + 1, 4 * 8 + 6])  # whole windows only; a last, shorter window
def test_document_losses_sum_to_the_windowed_loss(n_tokens):
    torch.manual_seed(0)
    model = build_model(ModelConfig(n_layer=1, n_head=2, n_embd=16, intermediate_size=32, block_size=8), 50).eval()
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 50, size=n_tokens)
    tokens[[5, 17, 30, n_tokens - 1]] = EOS  # four documents
    nll, count = document_losses(model, tokens, EOS, block_size=8, batch_size=3)
    assert count.tolist() == [5, 12, 13, n_tokens - 31]
    # the same windows, one at a time, by hand
    expected = []
    with torch.no_grad():
        for start in range(0, n_tokens - 1, 8):
            w = torch.from_numpy(tokens[start : start + 9])
            expected.append(F.cross_entropy(model(w[None, :-1])[0], w[1:], reduction="none").double().numpy())
    per_token = np.concatenate(expected)
    assert nll.tolist() == pytest.approx([per_token[:5].sum(), per_token[5:17].sum(), per_token[17:30].sum(),
                                          per_token[30:].sum()], rel=1e-5)  # fmt: skip


def test_paired_differences_are_exact_when_one_model_is_a_shift_of_another():
    rng = np.random.default_rng(1)
    tokens = rng.integers(20, 200, size=50).astype(float)
    base = tokens * rng.uniform(2, 4, size=50)
    nll = {"regmix": base + 0.1 * tokens, "prior": base + 0.2 * tokens, "truth": base}
    out = paired_comparison(nll, tokens, "regmix", n_boot=300, seed=0)
    # every resample keeps the per-token shifts: the differences and the gap closure have no spread
    assert out["minus"]["prior"] == pytest.approx(-0.1) and out["minus_ci95"]["prior"] == pytest.approx([-0.1, -0.1])
    assert out["minus"]["truth"] == pytest.approx(0.1) and out["gap_closure"] == pytest.approx(0.5)
    assert out["gap_closure_ci95"] == pytest.approx([0.5, 0.5])
    assert out["documents"] == 50 and out["loss"]["truth"] == pytest.approx(base.sum() / tokens.sum())


def test_bootstrap_spread_matches_the_ratio_estimators_standard_error():
    rng = np.random.default_rng(2)
    n = 400
    tokens = rng.integers(20, 200, size=n).astype(float)
    nll = tokens * rng.normal(3.0, 0.5, size=n)
    boot = resampled_losses({"m": nll}, tokens, 4000, seed=0)["m"]
    ratio = nll.sum() / tokens.sum()
    # delta-method standard error of sum(x)/sum(t) over n documents
    se = np.sqrt(np.sum((nll - ratio * tokens) ** 2)) / tokens.sum()
    assert boot.std() == pytest.approx(se, rel=0.1)
    assert boot.mean() == pytest.approx(ratio, abs=se / 5)


def test_unigram_loss_is_the_cross_entropy_of_training_token_frequencies(tokens_dir):
    from regmix.evaluation.unigram import unigram_loss
    from regmix.token_store import TokenStore

    store = TokenStore(tokens_dir)
    counts = np.ones(store.vocab_size)
    for d in store.train_domains:
        for t in np.asarray(store.array("train", d)[:]):
            counts[t] += 1
    target = np.asarray(store.array("valid", "target")[:])[1:]
    expected = -np.mean([np.log(counts[t] / counts.sum()) for t in target])
    assert unigram_loss(store, "target") == pytest.approx(expected, rel=1e-12)


def test_seeds_are_averaged_and_resampled_in_pairs():
    rng = np.random.default_rng(3)
    tokens = rng.integers(20, 200, size=60).astype(float)
    base = tokens * rng.uniform(2, 4, size=60)
    # seeds move every mixture alike (same initialisation and data order): a shared seed effect of 0.3 per token
    seed_effect = np.array([0.0, 0.3])[:, None] * tokens
    nll = {"regmix": base + 0.1 * tokens + seed_effect, "prior": base + 0.2 * tokens + seed_effect}
    out = paired_comparison(nll, tokens, "regmix", n_boot=500, seed=0)
    assert out["seeds"] == 2
    assert out["loss_by_seed"]["regmix"] == pytest.approx([base.sum() / tokens.sum() + 0.1 + s for s in (0, 0.3)])
    assert out["loss"]["regmix"] == pytest.approx(base.sum() / tokens.sum() + 0.25)  # the mean over seeds
    # paired by document and by seed, the difference has no spread; the losses themselves do (seed variance)
    assert out["minus_ci95"]["prior"] == pytest.approx([-0.1, -0.1])
    lo, hi = out["loss_ci95"]["regmix"]
    assert hi - lo > 0.25  # resampled seeds: {0, 0}, {0, 0.3}, {0.3, 0.3}
    with pytest.raises(ValueError, match="same number of seeds"):
        paired_comparison({"a": np.stack([base, base]), "b": base}, tokens, "a")


def test_correlation_and_its_interval():
    from regmix.evaluation.bootstrap import correlation

    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    out = correlation(x, 2 * x + 1, n_boot=200)
    assert out["spearman"] == pytest.approx(1) and out["pearson"] == pytest.approx(1)
    assert out["spearman_ci95"] == pytest.approx([1, 1])
    # on a known distribution (normal, correlation 1/sqrt(2): Spearman's rho (6/pi) asin(rho/2) = 0.683) the
    # 95% interval covers the true value about 95% of the time
    true_rho, covered = 6 / np.pi * np.arcsin(0.5**0.5 / 2), 0
    for _ in range(40):
        a = rng.normal(size=40)
        lo, hi = correlation(a, a + rng.normal(size=40), n_boot=200, seed=int(rng.integers(1000)))["spearman_ci95"]
        covered += lo <= true_rho <= hi
    assert 33 <= covered <= 40
    assert correlation(x[:2], x[:2]) == {"models": 2}  # too few for a correlation


def test_transfer_ranks_runs_among_all_large_models():
    from regmix.large_models import LargeModel
    from regmix.report.report import transfer_check

    models = [LargeModel(f"{r}-{s}", r, s, f"{r}/seed-{s}", "") for r in ("regmix", "prior") for s in (0, 1)]
    models += [LargeModel(f"validation-{i}", None, 0, f"validation/{i}", "") for i in range(4)]
    actual = {"regmix-0": 1.0, "regmix-1": 1.2, "prior-0": 2.0, "prior-1": 2.4}
    actual |= {"validation-0": 1.5, "validation-1": 0.5, "validation-2": 3.0, "validation-3": 2.1}
    predicted = {k: v * 10 for k, v in actual.items()}
    predicted["validation-0"], predicted["validation-1"] = 5.0, 15.0  # two validation models swapped
    out = transfer_check(predicted, actual, models)
    assert out["models"] == 4 and out["spearman"] == pytest.approx(0.8)  # ranks (2,1,4,3) vs (1,2,4,3)
    # regmix 1.1 is second after validation-1 (0.5); prior 2.2 fifth after 0.5, 1.1, 1.5, 2.1
    assert out["rank"] == {"regmix": 2, "prior": 5} and out["of"] == 6
