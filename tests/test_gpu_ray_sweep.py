"""benchmarks/gpu_ray_sweep.py: its token directory and its arithmetic (the CPU smoke run, ~20 s with Ray, is left to
the docstring's command)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from conftest import REPO

from regmix.token_store import TokenStore

sys.path.insert(0, str(REPO / "benchmarks"))  # for the siblings it imports (provenance, gpu_proxy_throughput)
try:
    _spec = importlib.util.spec_from_file_location("gpu_ray_sweep", REPO / "benchmarks" / "gpu_ray_sweep.py")
    grs = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(grs)
finally:
    sys.path.remove(str(REPO / "benchmarks"))


def test_token_directory_is_random_ids_over_the_whole_vocabulary(tmp_path):
    tokens = grs.write_tokens(tmp_path, 3, 700, train_tokens=5000, valid_tokens=1500, seed=1)
    store = TokenStore(tokens)
    assert store.vocab_size == 700 and store.eos_id == 0
    assert store.train_domains == store.eval_domains == ["domain0", "domain1", "domain2"]
    for d in store.train_domains:
        assert store.counts["train"][d] >= 5000 and store.counts["valid"][d] >= 1500
        a = np.asarray(store.array("train", d))
        docs = -(-5000 // (grs.DOC_WORDS + 1))
        assert len(a) == docs * (grs.DOC_WORDS + 1) and (a == 0).sum() == docs  # one EOS after each document
        assert a.max() == 699 and len(np.unique(a)) > 600  # uniform over [1, 700), not a few words


def test_rates_and_speedups():
    assert grs.figures(1_000_000, 4.0, 200_000, 1.0) == {
        "tokens": 1_000_000,
        "wall_s": 4.0,
        "tokens_per_s": 250_000.0,
        "steady_tokens_per_s": 800_000 / 3.0,  # the extra tokens over the extra time: fixed costs cancel
    }
    assert grs.figures(1000, 1.0, 100, 1.5)["steady_tokens_per_s"] is None  # noise beyond the difference
    assert grs.figures(1000, 1.0, None, None)["steady_tokens_per_s"] is None  # --no-short
    rows = [
        {"k": 2, "tokens_per_s": 300.0, "steady_tokens_per_s": 900.0},
        {"k": 1, "tokens_per_s": 200.0, "steady_tokens_per_s": 400.0},
        {"k": 4, "tokens_per_s": 100.0, "steady_tokens_per_s": None},
    ]
    grs.add_speedups(rows)
    assert [(r["x_vs_k1"], r["steady_x_vs_k1"]) for r in rows] == [(1.5, 2.25), (1.0, 1.0), (0.5, None)]


def test_every_proxy_must_train_steps_x_batch_x_block_tokens():
    assert grs.trained_tokens({0: {"tokens_seen": 6 * 8 * 64}, 1: {"tokens_seen": 6 * 8 * 64}}, 6, 8, 64) == 6144
    with pytest.raises(RuntimeError, match="proxies trained other than"):
        grs.trained_tokens({0: {"tokens_seen": 6 * 8 * 64}, 1: {"tokens_seen": 5 * 8 * 64}}, 6, 8, 64)
