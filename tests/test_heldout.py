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
