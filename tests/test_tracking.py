import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from regmix.config.params import MlflowParams, Params
from regmix.config.training import ModelConfig, TrainConfig
from regmix.proxy.jobs import ProxyJob
from regmix.proxy.tracking import SweepTracker
from regmix.tracking import LiveRun, Tracker, owner_tags, project_root, result_metrics, tracking_uri
from regmix.training.loop import TrainResult


def test_project_root_outside_queued_experiment_copies(tmp_path):
    inside = tmp_path / "proj" / ".dvc" / "tmp" / "exps" / "tmpabc123"
    inside.mkdir(parents=True)
    assert project_root(inside) == (tmp_path / "proj").resolve()
    assert project_root(tmp_path / "proj") == (tmp_path / "proj").resolve()


def test_tracking_uri_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    inside = tmp_path / ".dvc" / "tmp" / "exps" / "tmpx"
    inside.mkdir(parents=True)
    assert tracking_uri("sqlite:///mlflow.db", inside) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking_uri("sqlite:////abs/m.db", inside) == "sqlite:////abs/m.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri("sqlite:///mlflow.db", inside) == "http://127.0.0.1:5000"


def test_nested_runs_in_a_real_sqlite_store(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    t = Tracker(uri, "exp")
    parent, existed = t.find_or_create("sweep", "k1", {"regmix.kind": "sweep"})
    assert not existed and t.find_or_create("sweep", "k1", {})[0] == parent
    child, _ = t.find_or_create("proxy-1", "k2", {}, parent=parent)
    result = {"train_loss": [(5, 3.0), (10, 2.5)], "val_loss": [(10, {"web": 2.7, "target": 2.9})]}
    t.log(child, params={"weight": {"web": 0.25}, "model": {"n_layer": 2}}, metrics=result_metrics(result))
    t.finish(child)
    client = MlflowClient(uri)
    run = client.get_run(child)
    assert run.data.tags["mlflow.parentRunId"] == parent
    assert run.data.params == {"weight.web": "0.25", "model.n_layer": "2"}
    assert [m.value for m in client.get_metric_history(child, "train_loss")] == [3.0, 2.5]
    assert run.data.metrics["val_loss/target"] == 2.9 and run.info.status == "FINISHED"


def _dead_pid() -> str:
    """The pid of a process that has exited."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return proc.stdout.strip()


def test_running_runs_of_dead_processes_end_killed(tmp_path):
    t = Tracker(f"sqlite:///{tmp_path}/m.db", "exp")
    me, dead = owner_tags(), _dead_pid()
    runs = {
        "dead": {**me, "regmix.pid": dead},
        "pid reused": {**me, "regmix.pid_started": "1.0"},  # this pid, but a process started long before this one
        "alive": me,
        "other host": {**me, "regmix.host": "elsewhere", "regmix.pid": dead},  # its processes are not visible here
        "no owner": {},  # a sweep's parent run: open across stages
        "finished": {**me, "regmix.pid": dead},
    }
    ids = {name: t.find_or_create(name, name, tags)[0] for name, tags in runs.items()}
    t.finish(ids["finished"])
    assert sorted(t.end_dead_runs()) == sorted([ids["dead"], ids["pid reused"]])
    status = {name: t.client.get_run(i).info.status for name, i in ids.items()}
    assert status == {
        "dead": "KILLED",
        "pid reused": "KILLED",
        "alive": "RUNNING",
        "other host": "RUNNING",
        "no owner": "RUNNING",
        "finished": "FINISHED",
    }


def test_a_proxy_run_left_running_by_a_kill_is_logged_again_whole(tmp_path, tokens_dir, monkeypatch):
    params = Params(mlflow=MlflowParams(tracking_uri=f"sqlite:///{tmp_path}/m.db", experiment="exp"))
    job = ProxyJob(3, {"alpha": 1.0}, str(tokens_dir), ModelConfig(), TrainConfig(), ("target",))
    result = {"train_loss": [(5, 3.0)], "val_loss": [(5, {"target": 2.9})], "seconds": 1.0}
    killed = SweepTracker(params, str(tokens_dir))
    # a shard whose process is gone (a dead pid) was killed after creating the proxy's run, before logging it
    monkeypatch.setattr("regmix.proxy.tracking.owner_tags", lambda: {**owner_tags(), "regmix.pid": _dead_pid()})

    def killed_here(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(killed.tracker, "log", killed_here)
    with pytest.raises(KeyboardInterrupt):
        killed.log_proxy(job, result, cached=False)
    monkeypatch.undo()

    rerun = SweepTracker(params, str(tokens_dir))  # ends the dead shard's run KILLED
    rerun.log_proxy(job, result, cached=True)
    rerun.log_proxy(job, result, cached=True)  # logged once
    client = MlflowClient(params.mlflow.tracking_uri)
    runs = client.search_runs([rerun.tracker.experiment_id], "tags.`regmix.kind` = 'proxy'")
    assert sorted((r.info.status, r.data.metrics.get("val_loss/target")) for r in runs) == [
        ("FINISHED", 2.9),
        ("KILLED", None),
    ]
    assert client.get_run(rerun.parent).info.status == "RUNNING"  # the sweep's run stays open until `collect`


def test_a_live_run_logs_each_step_once(tmp_path):
    t = Tracker(f"sqlite:///{tmp_path}/m.db", "exp")
    half = TrainResult(train_loss=[(5, 3.0), (10, 2.5)], val_loss=[(10, {"a": 2.7})])
    first = LiveRun(t, "large-x", "k", {"regmix.kind": "large"}, {"lr": 0.1})
    first.log_progress(half)
    first.log_progress(half)  # nothing new
    # a resumed run (from an earlier checkpoint) recomputes step 10, already logged
    whole = TrainResult(train_loss=[(5, 3.0), (10, 2.5), (15, 2.2)], val_loss=[(10, {"a": 2.7}), (15, {"a": 2.4})])
    resumed = LiveRun(t, "large-x", "k", {"regmix.kind": "large"}, {"lr": 0.1})
    assert resumed.run_id == first.run_id and t.client.get_run(first.run_id).info.status == "RUNNING"
    resumed.finish(whole)
    history = {
        k: [(m.step, m.value) for m in t.client.get_metric_history(first.run_id, k)]
        for k in ("train_loss", "val_loss/a", "final_val_loss/a")
    }
    assert history == {
        "train_loss": [(5, 3.0), (10, 2.5), (15, 2.2)],
        "val_loss/a": [(10, 2.7), (15, 2.4)],
        "final_val_loss/a": [(0, 2.4)],
    }
    run = t.client.get_run(first.run_id)
    assert run.info.status == "FINISHED" and run.data.params == {"lr": "0.1"}
