import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from regmix.config.data import TokenizerConfig
from regmix.config.training import ModelConfig, TrainConfig
from regmix.errors import InputError
from regmix.files import read_json
from regmix.formats import curves_csv, losses_csv, merge_csvs
from regmix.proxy.jobs import ProxyJob, environment_key, run_cached, train_proxy
from regmix.proxy.local import run_jobs
from regmix.token_store import TokenStore
from regmix.tokenization.run import tokenize_layout

TINY = ModelConfig(n_layer=1, n_head=2, n_embd=32, intermediate_size=64, block_size=32)
CFG = TrainConfig(tokens=32 * 8 * 6, batch_size=8, warmup_steps=2, eval_every=3, eval_tokens=128)


def _jobs(tokens_dir):
    store = TokenStore(tokens_dir)
    mixes = {1: {"alpha": 1.0, "beta": 0.0, "gamma": 0.0}, 2: {"alpha": 0.2, "beta": 0.3, "gamma": 0.5}}
    return [ProxyJob(i, m, str(tokens_dir), TINY, CFG, tuple(store.eval_domains)) for i, m in mixes.items()]


def test_parallel_sweep_resumes_from_its_cache(tokens_dir, tmp_path):
    seen = []
    results = run_jobs(
        _jobs(tokens_dir), tmp_path / "cache", workers=2, on_result=lambda j, r, cached: seen.append((j.index, cached))
    )
    assert sorted(seen) == [(1, False), (2, False)]
    assert len(list((tmp_path / "cache").glob("proxy-*.json"))) == 2
    # a rerun (e.g. after the stage was killed) trains nothing: results come back identical from the cache
    seen.clear()
    again = run_jobs(
        _jobs(tokens_dir), tmp_path / "cache", workers=2, on_result=lambda j, r, cached: seen.append((j.index, cached))
    )
    assert sorted(seen) == [(1, True), (2, True)] and again == results

    csv = losses_csv(results, ["alpha", "target"]).splitlines()
    assert csv[0] == "index,metric/alpha_val_loss,metric/target_val_loss"
    assert [r.split(",")[0] for r in csv[1:]] == ["1", "2"]
    assert float(csv[1].split(",")[1]) == results[1]["val_loss"][-1][1]["alpha"]
    assert curves_csv(results, ["alpha"]).splitlines()[1].startswith("1,3,")


def test_same_job_in_a_worker_matches_in_process(tokens_dir, tmp_path):
    job = _jobs(tokens_dir)[1]
    _, local = train_proxy(job)
    remote = run_jobs([job], tmp_path / "c", workers=1)[2]
    assert local["val_loss"] == remote["val_loss"]


def test_merge_shard_csvs_keeps_values_and_orders_rows(tmp_path):
    (tmp_path / "a.csv").write_text("index,step,x\n10,2,0.30000000000000004\n10,1,1e-05\n")
    (tmp_path / "b.csv").write_text("index,step,x\n2,1,7.0\n")
    merged = merge_csvs([tmp_path / "a.csv", tmp_path / "b.csv"])
    assert merged == "index,step,x\n2,1,7.0\n10,1,1e-05\n10,2,0.30000000000000004\n"
    (tmp_path / "c.csv").write_text("index,y\n3,1.0\n")
    with pytest.raises(InputError, match="differs"):
        merge_csvs([tmp_path / "a.csv", tmp_path / "c.csv"])


def _in_process(todo):
    """An executor for `run_cached` that trains each job here, one after the other."""
    return ((job, train_proxy(job), None) for job in todo)


def test_cache_key_is_stable_and_changes_with_whatever_decides_the_losses(tokens_dir):
    job = _jobs(tokens_dir)[1]
    env = environment_key(tokens_dir)
    assert environment_key(str(tokens_dir)) == env
    # the same job built again from equal values: the same key
    again = ProxyJob(
        2,
        {"alpha": 0.2, "beta": 0.3, "gamma": 0.5},
        str(tokens_dir),
        ModelConfig(**dataclasses.asdict(TINY)),
        TrainConfig(**dataclasses.asdict(CFG)),
        ("alpha", "beta", "gamma", "target"),
    )
    assert job.eval_domains == again.eval_domains and again.key(env) == job.key(env)
    # where the data lies does not matter, only its content (Ray sends absolute paths, a shard resumes either way)
    assert dataclasses.replace(job, tokens_dir=os.path.abspath(tokens_dir) + "/").key(env) == job.key(env)
    changed = {
        "mixture": dataclasses.replace(job, mixture={"alpha": 0.3, "beta": 0.2, "gamma": 0.5}),
        "model": dataclasses.replace(job, model=dataclasses.replace(TINY, n_embd=48)),
        "learning rate": dataclasses.replace(job, train=dataclasses.replace(CFG, lr=CFG.lr / 2)),
        "seed": dataclasses.replace(job, train=dataclasses.replace(CFG, seed=1)),
        "accumulation": dataclasses.replace(job, train=dataclasses.replace(CFG, micro_batch_size=4)),
        "eval domains": dataclasses.replace(job, eval_domains=job.eval_domains[:-1]),
        "accelerator": dataclasses.replace(job, accelerator="cuda"),  # a Ray task with num_gpus > 0: other losses
    }
    keys = {name: j.key(env) for name, j in changed.items()}
    assert job.key(env) not in keys.values() and len(set(keys.values())) == len(keys), keys
    assert job.key(environment_key(tokens_dir) + "x") != job.key(env)  # other data or code


# trains (or loads) one proxy with whichever `regmix` is on PYTHONPATH; prints where it came from and the cache's answer
_SHARD = """
import json, sys
import regmix
from regmix.config.training import ModelConfig, TrainConfig
from regmix.proxy.jobs import ProxyJob, run_cached, train_proxy
s = json.loads(sys.argv[1])
job = ProxyJob(2, s["mixture"], s["tokens"], ModelConfig(**s["model"]), TrainConfig(**s["train"]), tuple(s["eval"]))
seen = []
train_here = lambda todo: ((j, train_proxy(j), None) for j in todo)
run_cached([job], s["cache"], lambda j, r, cached: seen.append(cached), train_here)
print(json.dumps({"package": regmix.__file__, "cached": seen}))
"""


def test_a_training_code_edit_retrains_instead_of_loading_the_cache(tokens_dir, tmp_path):
    """A copy of the library, edited: one real line of the training loop changes, the cached proxy is not reused."""
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    job = _jobs(tokens_dir)[1]
    spec = {
        "mixture": job.mixture,
        "tokens": str(tokens_dir),
        "model": dataclasses.asdict(TINY),
        "train": dataclasses.asdict(CFG),
        "eval": job.eval_domains,
        "cache": str(tmp_path / "cache"),
    }

    def shard() -> list[bool]:
        env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
        p = subprocess.run(
            [sys.executable, "-c", _SHARD, json.dumps(spec)], env=env, capture_output=True, text=True, timeout=300
        )
        assert p.returncode == 0, p.stderr[-3000:]
        out = json.loads(p.stdout.splitlines()[-1])
        assert out["package"].startswith(str(tmp_path / "src")), out  # the copy runs, not this checkout
        return out["cached"]

    assert shard() == [False]  # trained, now cached
    assert shard() == [True]  # a new process, the same code: loaded
    (tmp_path / "src/regmix/regression/fit.py").open("a").write("\n_EDITED = 1\n")
    assert shard() == [True]  # code that does not train a proxy: still loaded
    (tmp_path / "src/regmix/training/loop.py").open("a").write("\n_EDITED = 1\n")
    assert shard() == [False]  # the training code changed: retrained
    first, second = sorted((tmp_path / "cache").glob("proxy-2-*.json"))
    assert read_json(first)["val_loss"] == read_json(second)["val_loss"]  # (a harmless edit: the same losses)


def test_other_token_content_with_equal_counts_misses_the_cache(layout_dir, tokens_dir, tmp_path):
    """Two documents of one domain swapped, encoded with the same tokenizer: equal counts, other arrays, other key."""
    tokenizer = TokenizerConfig(path=str(tokens_dir / "tokenizer.json"))
    swapped = tmp_path / "domains"
    shutil.copytree(layout_dir, swapped)
    shard = sorted((swapped / "train").glob("alpha-*.jsonl"))[0]
    lines = shard.read_text().splitlines()
    shard.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    tokenize_layout(layout_dir, tmp_path / "a", tokenizer, "target")
    tokenize_layout(swapped, tmp_path / "b", tokenizer, "target")
    a, b = read_json(tmp_path / "a/counts.json"), read_json(tmp_path / "b/counts.json")
    assert a.pop("content_hash") != b.pop("content_hash") and a == b
    assert (tmp_path / "a/tokenizer.json").read_bytes() == (tmp_path / "b/tokenizer.json").read_bytes()
    alpha = [np.asarray(TokenStore(tmp_path / d).array("train", "alpha")) for d in "ab"]
    assert alpha[0].shape == alpha[1].shape and not np.array_equal(*alpha)

    cache = tmp_path / "cache"
    job = _jobs(tokens_dir)[1]
    seen = []
    for tokens in ("a", "a", "b", "a"):
        run_cached(
            [dataclasses.replace(job, tokens_dir=str(tmp_path / tokens))],
            cache,
            lambda j, r, cached: seen.append((cached, j.tokens_dir[-1])),
            _in_process,
        )
    assert seen == [(False, "a"), (True, "a"), (False, "b"), (True, "a")]
