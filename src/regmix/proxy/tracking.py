"""MLflow runs of the proxy sweep: a parent run per sweep, a nested run per proxy.

A proxy's run is logged whole once its proxy is done. A shard killed while logging one leaves it
RUNNING: the next stage that logs ends it KILLED, and the rerun logs a fresh, complete run beside it.
"""

from __future__ import annotations

import dataclasses
import os

from ..config.params import Params
from ..hashing import key_of
from ..token_store import TokenStore
from ..tracking import Tracker, owner_tags, result_metrics, run_tags, tracking_uri


def sweep_key(params: Params, tokens_dir: str) -> str:
    """Identifies a sweep: what its proxies depend on, and the DVC experiment running it."""
    return key_of(
        [
            dataclasses.asdict(params.proxy),
            dataclasses.asdict(params.mixtures),
            params.seed,
            TokenStore(tokens_dir).fingerprint,
            os.environ.get("DVC_EXP_NAME", ""),
        ]
    )


class SweepTracker:
    """Logs each finished proxy as a nested run under the sweep's run (found again on resume)."""

    def __init__(self, params: Params, tokens_dir: str):
        self.tracker = Tracker(tracking_uri(params.mlflow.tracking_uri), params.mlflow.experiment)
        self.tracker.end_dead_runs()  # proxy runs a killed shard left RUNNING
        self.tags = run_tags()
        key = sweep_key(params, tokens_dir)
        name = os.environ.get("DVC_EXP_NAME") or f"sweep-{key[:8]}"
        self.parent, existed = self.tracker.find_or_create(name, key, {**self.tags, "regmix.kind": "sweep"})
        if not existed:
            self.tracker.log(
                self.parent,
                params={
                    "proxy": dataclasses.asdict(params.proxy),
                    "mixtures": dataclasses.asdict(params.mixtures),
                    "seed": params.seed,
                },
            )

    def log_proxy(self, job, result: dict, cached: bool) -> None:
        """Log a finished `ProxyJob` as a nested run (once, even when a resumed shard loads it from the cache)."""
        key = key_of([self.parent, job.index])
        tags = {**self.tags, **owner_tags(), "regmix.kind": "proxy"}
        run_id, existed = self.tracker.find_or_create(
            f"proxy-{job.index}", key, tags, parent=self.parent, reuse_killed=False
        )
        if existed:
            return  # logged by an earlier run of this shard
        params = {
            "index": job.index,
            "weight": job.mixture,
            "model": dataclasses.asdict(job.model),
            "train": dataclasses.asdict(job.train),
        }
        self.tracker.log(run_id, params=params, metrics=result_metrics(result) + [("seconds", result["seconds"], 0)])
        self.tracker.finish(run_id)
