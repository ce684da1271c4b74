"""MLflow tracking: one run per proxy sweep, a nested run per proxy, a run per large model.

The store defaults to SQLite in the project root. Queued DVC experiments run in a copy under
`<root>/.dvc/tmp/exps/`, so a relative store path is resolved against the original root: the
same store for `dvc repro`, `dvc exp run` and `dvc exp run --queue`.

A run is tagged with the host, pid and start time of the process that logs it: a run still RUNNING
whose process is gone was killed, and the next stage that logs ends it as KILLED (`end_dead_runs`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import psutil
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

_EXPS = os.sep + os.path.join(".dvc", "tmp", "exps") + os.sep
_MAX_METRICS, _MAX_OTHER = 1000, 100  # MLflow's limits per log_batch call


def project_root(cwd: str | Path | None = None) -> Path:
    """The project's root: outside a queued experiment's temporary copy if run from inside one."""
    path = str(Path(cwd or os.environ.get("DVC_ROOT") or os.getcwd()).resolve())
    return Path(path.split(_EXPS)[0]) if _EXPS in path + os.sep else Path(path)


def tracking_uri(configured: str, cwd: str | Path | None = None) -> str:
    """`MLFLOW_TRACKING_URI` if set; else `configured`, a relative sqlite path taken from the project root."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        uri = prefix + str(project_root(cwd) / uri[len(prefix) :])
    return uri


def run_tags(cwd: str | Path | None = None) -> dict[str, str]:
    """Provenance tags: git commit, DVC stage and experiment name where known."""
    tags = {}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if commit:
            tags["mlflow.source.git.commit"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    for env, tag in (
        ("DVC_STAGE", "dvc.stage"),
        ("DVC_EXP_NAME", "dvc.exp_name"),
        ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev"),
    ):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


def owner_tags() -> dict[str, str]:
    """Tags naming this process: its host, pid and start time (a later process may reuse the pid)."""
    return {
        "regmix.host": socket.gethostname(),
        "regmix.pid": str(os.getpid()),
        "regmix.pid_started": repr(psutil.Process().create_time()),
    }


def _owner_alive(tags: dict[str, str]) -> bool:
    """Whether the process named by `owner_tags` (on this host) still runs."""
    try:
        proc = psutil.Process(int(tags["regmix.pid"]))
        same = abs(proc.create_time() - float(tags["regmix.pid_started"])) < 1.0
        return same and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, KeyError, ValueError):
        return False


def _flatten(prefix: str, obj, out: dict[str, str]) -> dict[str, str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = str(obj)[:6000]
    return out


class Tracker:
    """Thin helper over `MlflowClient` (explicit run ids, batched writes: SQLite is fsync-bound)."""

    def __init__(self, uri: str, experiment: str):
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id = exp.experiment_id if exp else self.client.create_experiment(experiment)

    def find_or_create(
        self, name: str, key: str, tags: dict[str, str], parent: str | None = None, reuse_killed: bool = True
    ) -> tuple[str, bool]:
        """The run tagged `regmix.key = key` (so a resumed stage reuses it), or a new one. Returns (id, existed).

        With `reuse_killed=False` a KILLED run is not reused: a new one is made beside it.
        """
        query = f"tags.`regmix.key` = '{key}'" + ("" if reuse_killed else " and attributes.status != 'KILLED'")
        found = self.client.search_runs([self.experiment_id], query, max_results=1)
        if found:
            return found[0].info.run_id, True
        tags = {**tags, "regmix.key": key, "mlflow.runName": name}
        if parent:
            tags["mlflow.parentRunId"] = parent
        return self.client.create_run(self.experiment_id, tags=tags, run_name=name).info.run_id, False

    def log(
        self,
        run_id: str,
        params: dict | None = None,
        metrics: list[tuple[str, float, int]] = (),
        tags: dict | None = None,
    ) -> None:
        """Log nested params (flattened with dots), (name, value, step) metrics and tags in batches."""
        now = int(time.time() * 1000)
        flat = [Param(k, v) for k, v in _flatten("", params or {}, {}).items()]
        ms = [Metric(n, float(v), now, int(s)) for n, v, s in metrics]
        ts = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        chunks = max(-(-len(ms) // _MAX_METRICS), -(-len(flat) // _MAX_OTHER), -(-len(ts) // _MAX_OTHER), 1)
        for j in range(chunks):
            self.client.log_batch(
                run_id,
                metrics=ms[j * _MAX_METRICS : (j + 1) * _MAX_METRICS],
                params=flat[j * _MAX_OTHER : (j + 1) * _MAX_OTHER],
                tags=ts[j * _MAX_OTHER : (j + 1) * _MAX_OTHER],
            )

    def finish(self, run_id: str) -> None:
        self.client.set_terminated(run_id, "FINISHED")

    def reopen(self, run_id: str) -> None:
        """Set a run RUNNING again, owned by this process (a resumed stage continues its run)."""
        self.client.update_run(run_id, status="RUNNING")
        self.log(run_id, tags=owner_tags())

    def end_dead_runs(self) -> list[str]:
        """End as KILLED the RUNNING runs of this experiment whose process, on this host, is gone; return their ids.

        Runs opened on other hosts are left alone (their processes cannot be seen from here), and so
        are runs without an owner: a sweep's parent run stays open from its first shard to `collect`.
        """
        query = f"attributes.status = 'RUNNING' and tags.`regmix.host` = '{socket.gethostname()}'"
        runs = self.client.search_runs([self.experiment_id], query, max_results=50_000)
        dead = [r.info.run_id for r in runs if not _owner_alive(r.data.tags)]
        for run_id in dead:
            self.client.set_terminated(run_id, "KILLED")
        return dead


class LiveRun:
    """A training run's MLflow run, logged as it trains: the losses of every evaluation, each step once.

    Opening it ends the experiment's runs left RUNNING by killed processes, then finds the run of
    `key` (a resumed stage's, set RUNNING again) or creates it; only steps that run has not logged
    yet are logged, so a resumed run's history has no gap and no duplicate.
    """

    def __init__(self, tracker: Tracker, name: str, key: str, tags: dict[str, str], params: dict):
        self.tracker = tracker
        tracker.end_dead_runs()
        self.run_id, existed = tracker.find_or_create(name, key, {**tags, **owner_tags()})
        if existed:
            tracker.reopen(self.run_id)
        run = tracker.client.get_run(self.run_id)
        history = tracker.client.get_metric_history
        self.logged = {metric: max(m.step for m in history(self.run_id, metric)) for metric in run.data.metrics}
        if not run.data.params:
            tracker.log(self.run_id, params=params)

    def log(self, metrics: list[tuple[str, float, int]]) -> None:
        """Log the (name, value, step) metrics whose step is past the last one logged under their name, in one batch."""
        new = [(n, v, s) for n, v, s in metrics if s > self.logged.get(n, -1)]
        if new:
            self.tracker.log(self.run_id, metrics=new)
        for n, _, s in new:
            self.logged[n] = max(s, self.logged.get(n, -1))

    def log_progress(self, result) -> None:
        """Log a `TrainResult`'s curves so far (call it after each evaluation)."""
        self.log(curve_metrics(result.as_dict()))

    def finish(self, result) -> None:
        """Log the finished `TrainResult` (what is left, the final losses, the training time) and end the run
        FINISHED. The time is MLflow's to keep: in a DVC output it would make every retrain look like a change."""
        self.log(result_metrics(result.as_dict()) + [("seconds", result.seconds, 0)])
        self.tracker.finish(self.run_id)


def curve_metrics(result: dict, prefix: str = "") -> list[tuple[str, float, int]]:
    """MLflow metrics of a `TrainResult.as_dict()`'s curves: train loss and every domain's val loss by step."""
    out = [(f"{prefix}train_loss", loss, step) for step, loss in result["train_loss"]]
    for step, losses in result["val_loss"]:
        out += [(f"{prefix}val_loss/{d}", v, step) for d, v in losses.items()]
    return out


def result_metrics(result: dict, prefix: str = "") -> list[tuple[str, float, int]]:
    """MLflow metrics of a finished `TrainResult.as_dict()`: its curves and the final val losses (at step 0)."""
    final = [(f"{prefix}final_val_loss/{d}", v, 0) for d, v in result["val_loss"][-1][1].items()]
    return curve_metrics(result, prefix) + final
