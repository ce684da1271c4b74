import dataclasses

import numpy as np
import pytest
import torch

from regmix.config.params import build
from regmix.config.training import PAPER_PRESETS, ModelConfig, TrainConfig
from regmix.errors import InputError
from regmix.token_store import TokenStore
from regmix.training.loop import MixtureBatches, eval_windows, evaluate, train
from regmix.training.model import build_model, count_parameters

TINY = ModelConfig(n_layer=1, n_head=2, n_embd=32, intermediate_size=64, block_size=32)
CFG = TrainConfig(tokens=32 * 8 * 12, batch_size=8, lr=3e-3, warmup_steps=2, eval_every=5, eval_tokens=256, log_every=2)


def test_paper_proxy_preset_parameter_count():
    model = build_model(PAPER_PRESETS["regmix-1m"], 50432)
    assert count_parameters(model) == {"total": 27_133_184, "non_embedding": 1_312_000}


def test_lr_schedules():
    c = TrainConfig(lr=1.0, min_lr=0.1, warmup_steps=10, schedule="cosine")
    assert c.lr_at(5, 100) == 0.5 and c.lr_at(10, 100) == 1.0 and c.lr_at(100, 100) == pytest.approx(0.1)
    assert dataclasses.replace(c, schedule="constant").lr_at(90, 100) == 1.0


def test_bad_train_config():
    with pytest.raises(InputError, match="proxy.train.precision: value 'fp8'"):
        build(TrainConfig, {"precision": "fp8"}, "proxy.train")


def test_batches_follow_the_mixture(tokens_dir):
    store = TokenStore(tokens_dir)
    batches = MixtureBatches(store, {"alpha": 1.0, "beta": 0.0, "gamma": 0.0}, 16, 64, seed=0)
    assert batches.domains == ["alpha"]
    alpha = set(np.asarray(store.array("train", "alpha")).tolist())
    assert set(next(batches).flatten().tolist()) <= alpha


def test_training_is_deterministic_and_learns(tokens_dir):
    store = TokenStore(tokens_dir)
    mix = {"alpha": 0.5, "beta": 0.3, "gamma": 0.2}
    _, a = train(TINY, CFG, mix, store, store.eval_domains)
    _, b = train(TINY, CFG, mix, store, store.eval_domains)
    assert a.val_loss == b.val_loss and a.train_loss == b.train_loss
    assert [s for s, _ in a.val_loss] == [5, 10, 12]
    assert set(a.final) == {"alpha", "beta", "gamma", "target"}
    assert a.train_loss[-1][1] < a.train_loss[0][1]
    _, c = train(TINY, dataclasses.replace(CFG, seed=1), mix, store, store.eval_domains)
    assert c.final != a.final


def test_eval_windows_spread_over_the_whole_split(tokens_dir):
    store = TokenStore(tokens_dir)
    a = np.asarray(store.array("valid", "target"))
    slots = (len(a) - 1) // 16
    every = eval_windows(store, "target", 16, 10**9)
    assert every.shape == (slots, 17) and every[-1, -1] == a[slots * 16]  # the budget above the split: all of it
    n = slots // 3
    some = eval_windows(store, "target", 16, 16 * n + 15)  # a third of the split
    rows = [next(i for i in range(slots) if torch.equal(w, every[i])) for w in some]
    # evenly spaced from the first window to the last few, not the first n
    assert len(rows) == n and rows[0] == 0 and rows[-1] >= slots - 6 and set(np.diff(rows)) <= {3, 4}


def test_the_target_is_evaluated_on_its_own_budget(tokens_dir):
    store = TokenStore(tokens_dir)
    cfg = dataclasses.replace(CFG, eval_every=0, eval_tokens=32, target_eval_tokens=96)
    assert (cfg.eval_budget("target", "target"), cfg.eval_budget("alpha", "target")) == (96, 32)
    assert cfg.eval_budget("target", None) == 32
    model, r = train(TINY, cfg, {"alpha": 1.0}, store, ["alpha", "target"], target="target")
    three = evaluate(model, {"target": eval_windows(store, "target", 32, 96)}, 8, "cpu")["target"]
    one = evaluate(model, {"target": eval_windows(store, "target", 32, 32)}, 8, "cpu")["target"]
    assert r.final["target"] == pytest.approx(three, abs=1e-9) and abs(three - one) > 1e-4


def test_mixture_changes_domain_losses(tokens_dir):
    store = TokenStore(tokens_dir)
    cfg = dataclasses.replace(CFG, tokens=32 * 8 * 30, eval_every=0)
    _, on_alpha = train(TINY, cfg, {"alpha": 1.0, "beta": 0.0, "gamma": 0.0}, store, ["alpha", "gamma"])
    _, on_gamma = train(TINY, cfg, {"alpha": 0.0, "beta": 0.0, "gamma": 1.0}, store, ["alpha", "gamma"])
    assert on_alpha.final["alpha"] < on_gamma.final["alpha"]
    assert on_gamma.final["gamma"] < on_alpha.final["gamma"]


def test_bf16_precision_runs(tokens_dir):
    store = TokenStore(tokens_dir)
    _, r = train(
        TINY, dataclasses.replace(CFG, precision="bf16-mixed", tokens=32 * 8 * 2), {"alpha": 1.0}, store, ["alpha"]
    )
    assert torch.isfinite(torch.tensor(r.final["alpha"]))
