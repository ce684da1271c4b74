"""MLflow tracking: one run per proxy sweep, a nested run per proxy, a run per large model.

The store defaults to SQLite in the project root. Queued DVC experiments run in a copy under
`<root>/.dvc/tmp/exps/`, so a relative store path is resolved against the original root: the
same store for `dvc repro`, `dvc exp run` and `dvc exp run --queue`.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

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

    def find_or_create(self, name: str, key: str, tags: dict[str, str], parent: str | None = None) -> tuple[str, bool]:
        """The run tagged `regmix.key = key` (so a resumed stage reuses it), or a new one. Returns (id, existed)."""
        found = self.client.search_runs([self.experiment_id], f"tags.`regmix.key` = '{key}'", max_results=1)
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


def result_metrics(result: dict, prefix: str = "") -> list[tuple[str, float, int]]:
    """MLflow metrics of a `TrainResult.as_dict()`: train loss and every domain's val loss by step, and the "
    "final val losses."""
    out = [(f"{prefix}train_loss", loss, step) for step, loss in result["train_loss"]]
    for step, losses in result["val_loss"]:
        out += [(f"{prefix}val_loss/{d}", v, step) for d, v in losses.items()]
    return out + [(f"{prefix}final_val_loss/{d}", v, 0) for d, v in result["val_loss"][-1][1].items()]
