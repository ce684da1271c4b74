"""The proxy sweep in a local process pool: `workers` processes, each training one proxy at a time."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .jobs import OnResult, ProxyJob, run_cached, train_proxy


def run_jobs(
    jobs: list[ProxyJob], cache_dir: str | Path, workers: int, on_result: OnResult | None = None
) -> dict[int, dict]:
    """Train `jobs` in a local process pool (cached ones are loaded, not retrained); call `on_result(job, "
    "result, cached)` for each."""

    def execute(todo: list[ProxyJob]):
        # spawn, not fork: a forked child inherits torch's thread pools in an unknown state
        with ProcessPoolExecutor(
            max_workers=max(1, min(workers, len(todo))), mp_context=mp.get_context("spawn")
        ) as pool:
            futures = {pool.submit(train_proxy, job): job for job in todo}
            for future in as_completed(futures):
                error = future.exception()
                yield futures[future], (None if error else future.result()), error

    return run_cached(jobs, cache_dir, on_result, execute)
