"""The proxy sweep on a Ray cluster: one Ray task per proxy, results handled as the local executor's.

`run_jobs_ray` has `proxy.local.run_jobs`'s contract: the same per-proxy cache (a resumed shard trains only
what is missing), and `on_result` called in this (the driver) process, so the shard's DVC outputs
and MLflow runs are the same whichever executor trained the proxies. Each task asks Ray for
`num_cpus` CPUs and `num_gpus` GPUs; a fraction (e.g. 0.25) lets several tiny proxies share a GPU,
and any `num_gpus > 0` trains the proxy on CUDA. A task that fails (an exception, or its worker
dies) is retried up to `max_retries` times; a proxy still failing does not stop the others, which
finish and are cached before the stage fails.

The cluster: `address` from params, else `RAY_ADDRESS`, else a local cluster started (and stopped)
for the sweep. Workers must see the tokens directory at the same path (a shared file system on a
multi-node cluster) and have this project's environment installed. `ray` is imported only here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from ..config.sweep import RayConfig
from .jobs import OnResult, ProxyJob, run_cached, train_proxy


def run_jobs_ray(
    jobs: list[ProxyJob],
    cache_dir: str | Path,
    cfg: RayConfig,
    on_result: OnResult | None = None,
    task: Callable[[ProxyJob], tuple[int, dict]] = train_proxy,
) -> dict[int, dict]:
    """Train `jobs` as Ray tasks running `task` (cached ones are loaded); call `on_result(job, result, cached)`.

    Joins the running Ray session if there is one (`ray.is_initialized()`), else connects to (or
    starts) the cluster of `cfg` and leaves it again at the end.
    """
    import ray

    if cfg.num_gpus > 0:
        jobs = [dataclasses.replace(j, accelerator="cuda") if j.accelerator == "cpu" else j for j in jobs]

    def execute(todo: list[ProxyJob]):
        started = not ray.is_initialized()
        if started:
            address = cfg.resolved_address()
            ray.init(address=address, include_dashboard=False, **({} if address else {"num_cpus": cfg.local_cpus}))
        remote = ray.remote(
            num_cpus=cfg.num_cpus, num_gpus=cfg.num_gpus, max_retries=cfg.max_retries, retry_exceptions=True
        )(task)
        # workers may run elsewhere (another node, another working directory): send absolute paths
        job_of = {remote.remote(dataclasses.replace(j, tokens_dir=os.path.abspath(j.tokens_dir))): j for j in todo}
        pending = list(job_of)
        try:
            while pending:
                (ref,), pending = ray.wait(pending, num_returns=1)
                try:
                    done, error = ray.get(ref), None
                except ray.exceptions.RayError as e:  # the task's exception after its retries, or a lost worker
                    done, error = None, e
                yield job_of[ref], done, error
        finally:
            for ref in pending:  # the driver stopped early (an error in on_result, Ctrl-C)
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()

    return run_cached(jobs, cache_dir, on_result, execute)
