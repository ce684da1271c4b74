"""The proxy sweep in a local process pool: `workers` processes, each training one proxy at a time."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .jobs import OnResult, ProxyJob, run_cached, train_proxy

# What a worker imports before its first proxy (seconds of torch, Lightning and litgpt). A forkserver
# imports it once and forks every worker from there, instead of each spawned worker importing it again.
WORKER_IMPORTS = ["regmix.proxy.jobs", "regmix.training.loop"]


def worker_context() -> mp.context.BaseContext:
    """Forkserver with the training modules preloaded; spawn where there is no forkserver (Windows).

    Not plain fork: a child forked from a process that has run torch inherits its thread pools in an
    unknown state. The forkserver has imported torch but run nothing, so its children start clean.
    """
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(WORKER_IMPORTS)
    return ctx


def start_workers() -> None:
    """Start the forkserver now, so that its imports run on another core while this process gets ready."""
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def run_jobs(
    jobs: list[ProxyJob], cache_dir: str | Path, workers: int, on_result: OnResult | None = None
) -> dict[int, dict]:
    """Train `jobs` in a local process pool (cached ones are loaded, not retrained); call `on_result(job, "
    "result, cached)` for each."""

    def execute(todo: list[ProxyJob]):
        with ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo))), mp_context=worker_context()) as pool:
            futures = {pool.submit(train_proxy, job): job for job in todo}
            for future in as_completed(futures):
                error = future.exception()
                yield futures[future], (None if error else future.result()), error

    return run_cached(jobs, cache_dir, on_result, execute)
