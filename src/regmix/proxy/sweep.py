"""The proxy sweep of one shard, with the executor `sweep.executor` names: a local process pool or Ray."""

from __future__ import annotations

from pathlib import Path

from ..config.sweep import SweepParams
from .jobs import OnResult, ProxyJob
from .local import run_jobs


def run_sweep(
    jobs: list[ProxyJob], cache_dir: str | Path, sweep: SweepParams, on_result: OnResult | None = None
) -> dict[int, dict]:
    """Train `jobs` with `sweep.executor`: the same cache, outputs and callbacks whichever it is."""
    if sweep.executor == "ray":
        from .ray_executor import run_jobs_ray  # ray is imported only when used

        return run_jobs_ray(jobs, cache_dir, sweep.ray, on_result)
    return run_jobs(jobs, cache_dir, sweep.workers, on_result)
