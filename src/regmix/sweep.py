"""The proxy sweep: train one small model per mixture in parallel worker processes.

A shard (one DVC stage) trains its proxies in a local process pool (`run_jobs`) or as Ray tasks on
a cluster (`regmix.ray_executor.run_jobs_ray`), chosen by `sweep.executor` (`run_sweep`). Each finished proxy is saved at
once in a cache keyed by everything that determines its result, so a shard killed half-way
resumes without retraining the proxies it had finished; the shard's outputs are written only
when all its proxies are done.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

from .errors import InputError
from .io import read_json, write_json, write_text
from .model import ModelConfig
from .tracking import key_of
from .train import TrainConfig


@dataclass(frozen=True)
class ProxyJob:
    """Everything a worker needs to train one proxy (picklable)."""

    index: int
    mixture: dict[str, float]
    tokens_dir: str
    model: ModelConfig
    train: TrainConfig
    eval_domains: tuple[str, ...]
    threads: int = 1
    accelerator: str = "cpu"  # "cuda" on a GPU worker (a Ray task with num_gpus > 0)

    def key(self, tokens_fingerprint: str) -> str:
        train = dataclasses.asdict(self.train)
        if train.get("micro_batch_size") is None:
            train.pop("micro_batch_size", None)  # the key of a proxy without accumulation is as before the field existed
        parts = [self.mixture, dataclasses.asdict(self.model), train, self.eval_domains, tokens_fingerprint]
        if self.accelerator != "cpu":
            parts.append(self.accelerator)  # initialised and trained on a GPU: other losses
        return key_of(parts)


def train_proxy(job: ProxyJob) -> tuple[int, dict]:
    """Worker entry point: train one proxy and return (index, `TrainResult.as_dict()`)."""
    import torch
    from lightning.fabric import Fabric

    from .tokens import TokenStore
    from .train import train

    torch.set_num_threads(job.threads)
    fabric = Fabric(accelerator=job.accelerator, devices=1, precision=job.train.precision)
    _, result = train(job.model, job.train, job.mixture, TokenStore(job.tokens_dir), list(job.eval_domains), fabric)
    return job.index, json.loads(json.dumps(result.as_dict()))  # as the cache returns it: lists, not tuples


def tokens_fingerprint(tokens_dir: str | Path) -> str:
    """Identifies the tokenized data cheaply (its counts and tokenizer)."""
    root = Path(tokens_dir)
    return key_of([read_json(root / "counts.json"), (root / "tokenizer.json").stat().st_size])


OnResult = Callable[[ProxyJob, dict, bool], None]


class ProxyFailed(RuntimeError):
    """Some proxies failed (after any retries); the others finished and are cached."""


def run_cached(
    jobs: list[ProxyJob],
    cache_dir: str | Path,
    on_result: OnResult | None,
    execute: Callable[[list[ProxyJob]], Iterator[tuple[ProxyJob, tuple[int, dict] | None, BaseException | None]]],
) -> dict[int, dict]:
    """What every executor shares: load cached proxies, let `execute` train the rest, cache each result.

    `execute(todo)` yields `(job, (index, result), None)` per finished job or `(job, None, error)` per
    failed one, as they complete. Results are cached and reported (`on_result`, in this process) at
    once; failures are raised together after every other job has finished.
    """
    cache_dir = Path(cache_dir)
    fingerprint = tokens_fingerprint(jobs[0].tokens_dir) if jobs else ""
    path_of = {j.index: cache_dir / f"proxy-{j.index}-{j.key(fingerprint)}.json" for j in jobs}
    results: dict[int, dict] = {}
    todo = []
    for job in jobs:
        if path_of[job.index].is_file():
            results[job.index] = read_json(path_of[job.index])
            if on_result:
                on_result(job, results[job.index], True)
        else:
            todo.append(job)
    failed: dict[int, BaseException] = {}
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="proxies", unit="proxy")
    if todo:
        for job, done, error in execute(todo):
            if error is not None:
                failed[job.index] = error
                continue
            index, result = done
            write_json(path_of[index], result)
            results[index] = result
            if on_result:
                on_result(job, result, False)
            bar.update()
    bar.close()
    if failed:
        first = next(iter(failed.values()))
        raise ProxyFailed(f"{len(failed)} of {len(jobs)} proxies failed (indices {sorted(failed)}); "
                          f"the {len(results)} others are cached, rerun to retry the failed ones. First error: {first!r}") from first
    return dict(sorted(results.items()))


def run_jobs(
    jobs: list[ProxyJob],
    cache_dir: str | Path,
    workers: int,
    on_result: OnResult | None = None,
) -> dict[int, dict]:
    """Train `jobs` in a local process pool (cached ones are loaded, not retrained); call `on_result(job, result, cached)` for each."""

    def execute(todo: list[ProxyJob]):
        # spawn, not fork: a forked child inherits torch's thread pools in an unknown state
        with ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo))), mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(train_proxy, job): job for job in todo}
            for future in as_completed(futures):
                error = future.exception()
                yield futures[future], (None if error else future.result()), error

    return run_cached(jobs, cache_dir, on_result, execute)


def run_sweep(jobs: list[ProxyJob], cache_dir: str | Path, sweep, on_result: OnResult | None = None) -> dict[int, dict]:
    """Train `jobs` with the executor `sweep.executor` names (`sweep` is `params.sweep`): the same cache and callbacks."""
    if sweep.executor == "ray":
        from .ray_executor import run_jobs_ray  # ray is imported only when used

        return run_jobs_ray(jobs, cache_dir, sweep.ray, on_result)
    return run_jobs(jobs, cache_dir, sweep.workers, on_result)


def loss_column(domain: str) -> str:
    return f"metric/{domain}_val_loss"


def losses_csv(results: dict[int, dict], eval_domains: list[str]) -> str:
    """The paper's losses CSV: `index` then `metric/<domain>_val_loss`, final losses, rows by index."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index"] + [loss_column(d) for d in eval_domains])
    for index in sorted(results):
        final = results[index]["val_loss"][-1][1]
        w.writerow([index] + [repr(final[d]) for d in eval_domains])
    return buf.getvalue()


def curves_csv(results: dict[int, dict], eval_domains: list[str]) -> str:
    """Long-format validation curves: `index,step,<domain>...` (for plots)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "step"] + eval_domains)
    for index in sorted(results):
        for step, losses in results[index]["val_loss"]:
            w.writerow([index, step] + [repr(losses[d]) for d in eval_domains])
    return buf.getvalue()


def write_shard(out_dir: str | Path, results: dict[int, dict], eval_domains: list[str]) -> None:
    out_dir = Path(out_dir)
    write_text(out_dir / "losses.csv", losses_csv(results, eval_domains))
    write_text(out_dir / "curves.csv", curves_csv(results, eval_domains))


def merge_shard_csvs(paths: list[Path]) -> str:
    """Concatenate the shards' CSVs under one header, rows by (index, step); as text, so values stay byte-for-byte."""
    header, rows = None, []
    for path in paths:
        if not path.is_file():
            raise InputError(str(path), "missing", f"run `dvc repro` for the shard in {path.parent}")
        lines = path.read_text().splitlines()
        if header is not None and lines[0] != header:
            raise InputError(str(path), f"header {lines[0]!r} differs from the other shards' {header!r}", "rerun the shards on the same data")
        header = lines[0]
        rows += lines[1:]
    rows.sort(key=lambda r: [int(x) for x in r.split(",")[:2] if x.isdigit()])
    return "\n".join([header] + rows) + "\n"
