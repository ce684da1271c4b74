"""Resumable large-model training: a run killed half-way and rerun ends exactly as a run never stopped, and
continues its MLflow run with every step logged once."""

import contextlib
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest
import torch
import yaml
from conftest import REPO
from mlflow.tracking import MlflowClient

from regmix.config.training import ModelConfig, TrainConfig
from regmix.errors import InputError
from regmix.formats import curves_csv, write_mixture_yaml
from regmix.token_store import TokenStore
from regmix.tracking import Tracker, result_metrics
from regmix.training.loop import train

TINY = ModelConfig(n_layer=1, n_head=2, n_embd=32, intermediate_size=64, block_size=32)
MIX = {"alpha": 0.5, "beta": 0.3, "gamma": 0.2}
# 150 steps of 8 x 32 tokens; a resume checkpoint every 50 steps, an evaluation every 10
CFG = TrainConfig(
    tokens=32 * 8 * 150,
    batch_size=8,
    lr=3e-3,
    warmup_steps=2,
    schedule="cosine",
    eval_every=10,
    eval_tokens=256,
    log_every=5,
    checkpoint_every=50,
)


class Killed(Exception):
    pass


def test_a_resumed_loop_equals_a_loop_never_stopped(tokens_dir, tmp_path):
    store = TokenStore(tokens_dir)
    cfg = dataclasses.replace(CFG, tokens=32 * 8 * 30, checkpoint_every=10)
    model, whole = train(TINY, cfg, MIX, store, store.eval_domains)

    def kill_at_17(step, total):
        if step == 17:
            raise Killed

    path = tmp_path / "run" / "resume.ckpt"
    with pytest.raises(Killed):
        train(TINY, cfg, MIX, store, store.eval_domains, on_step=kill_at_17, resume=path)
    assert torch.load(path, weights_only=True)["step"] == 10  # the last checkpoint before the kill
    evaluated = []
    resumed_model, resumed = train(
        TINY, cfg, MIX, store, store.eval_domains, on_eval=lambda r: evaluated.append(r.val_loss[-1][0]), resume=path
    )
    assert evaluated == [20, 30]  # steps 1..10 were not trained again
    assert resumed.val_loss == whole.val_loss and resumed.train_loss == whole.train_loss  # bit-identical
    weights, resumed_weights = model.state_dict(), resumed_model.state_dict()
    assert all(torch.equal(weights[k], resumed_weights[k]) for k in weights)


def test_a_broken_checkpoint_is_named(tokens_dir, tmp_path):
    store = TokenStore(tokens_dir)
    path = tmp_path / "resume.ckpt"
    path.write_bytes(b"half a checkpoint")
    with pytest.raises(InputError, match=f"{path}: resume checkpoint cannot be loaded.*delete it"):
        train(TINY, CFG, MIX, store, store.eval_domains, resume=path)


def _project(tmp_path, name: str):
    root = tmp_path / name
    root.mkdir()
    write_mixture_yaml(root / "mix.yaml", MIX, "target")
    params = {
        "seed": 0,
        "mixtures": {"max_epochs": 1000.0},  # the tiny corpus is seen many times
        "large": {"model": dataclasses.asdict(TINY), "train": dataclasses.asdict(CFG), "threads": 1},
        "mlflow": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "experiment": "test"},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def _start(root, tokens_dir) -> subprocess.Popen:
    """`stages/train_large.py` as `dvc repro` runs it (from the project root)."""
    env = {**os.environ, "REGMIX_PARAMS": str(root / "params.yaml"), "PYTHONPATH": str(REPO / "src")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DVC_EXP_NAME", None)
    cmd = [sys.executable, str(REPO / "stages" / "train_large.py"), "--name", "x", "--seed", "0"]
    cmd += ["--mixture", "mix.yaml", "--tokens", str(tokens_dir), "--out", "models/large/x"]
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> str:
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    return stdout


def _last_logged_step(db) -> int:
    """The last validation step in the MLflow store, read straight from SQLite (polled while the stage runs)."""
    try:
        with contextlib.closing(sqlite3.connect(db)) as con:
            return con.execute("SELECT max(step) FROM metrics WHERE key = 'val_loss/target'").fetchone()[0] or 0
    except sqlite3.OperationalError:  # the store's tables are not made yet
        return 0


def test_a_killed_stage_resumes_where_it_stopped(tokens_dir, tmp_path):
    root = _project(tmp_path, "project")
    cache, db = root / "data" / "cache" / "large", root / "mlflow.db"
    started = time.time()
    proc = _start(root, tokens_dir)
    # kill it once it has a checkpoint and has logged evaluations after that checkpoint (steps to log once)
    while proc.poll() is None and not (list(cache.glob("x-*/resume.ckpt")) and _last_logged_step(db) > 50):
        assert time.time() < started + 300, "the stage neither checkpointed nor ended"
        time.sleep(0.005)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -9 and not (root / "models" / "large" / "x").exists()
    [ckpt] = cache.glob("x-*/resume.ckpt")
    saved_at, logged = torch.load(ckpt, weights_only=True)["step"], _last_logged_step(db)
    assert saved_at in (50, 100) and saved_at < logged < 150

    client = MlflowClient(f"sqlite:///{db}")
    [killed] = client.search_runs([client.get_experiment_by_name("test").experiment_id])
    assert killed.info.status == "RUNNING"  # as the kill left it
    assert Tracker(f"sqlite:///{db}", "test").end_dead_runs() == [killed.info.run_id]
    assert client.get_run(killed.info.run_id).info.status == "KILLED"

    (cache / "x-0123456789abcdef").mkdir()  # a stale run of the same name (other settings): removed
    (cache / "y-0123456789abcdef").mkdir()  # another run's: kept
    rerun_started = time.time()
    rerun = _start(root, tokens_dir)
    assert "x: resuming from" in _finish(rerun)
    assert sorted(p.name for p in cache.iterdir()) == ["y-0123456789abcdef"]

    # the outputs of a run never stopped (the same training in this process, on one thread as the stage's), to the bit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    store = TokenStore(tokens_dir)
    model, whole = train(TINY, CFG, MIX, store, store.eval_domains)
    torch.set_num_threads(threads)
    out = root / "models" / "large" / "x"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_loss"] == whole.final and [tuple(x) for x in metrics["train_loss"]] == whole.train_loss
    assert (out / "curves.csv").read_text() == curves_csv({0: whole.as_dict()}, store.eval_domains)
    weights, whole_weights = torch.load(out / "lit_model.pth")["model"], model.state_dict()
    assert all(torch.equal(weights[k], whole_weights[k]) for k in whole_weights)

    # the same MLflow run, reopened by the rerun: each step once, the same history as the run never stopped
    [run] = client.search_runs([client.get_experiment_by_name("test").experiment_id])
    assert run.info.run_id == killed.info.run_id and run.info.status == "FINISHED"
    assert run.data.tags["regmix.pid"] == str(rerun.pid)
    assert started * 1000 <= run.info.start_time < rerun_started * 1000  # its duration counts from the first start
    history = {k: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)] for k in run.data.metrics}
    assert [s for s, _ in history["val_loss/target"]] == list(range(10, 151, 10))
    assert [s for s, _ in history["train_loss"]] == list(range(5, 151, 5))
    expected = {}
    for name, value, step in result_metrics(whole.as_dict()):
        expected.setdefault(name, []).append((step, value))
    [(step, seconds)] = history.pop("seconds")  # the training time, logged once, at the end
    assert step == 0 and seconds > 0
    assert {k: sorted(v) for k, v in history.items()} == expected
