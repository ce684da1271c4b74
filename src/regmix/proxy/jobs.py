"""A proxy job and the per-proxy cache that every executor shares.

Each finished proxy is saved at once in `cache_dir`, under a key made of everything that decides
its losses: the mixture, model shape, training config and evaluated domains, the content hash of
the tokenized data, the source code that trains and evaluates it (the import closure of
`train_proxy`) and the versions of torch, litgpt and lightning. A shard killed half-way resumes
without retraining the proxies it had finished, and a code or library change retrains them all.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

from tqdm import tqdm

from ..config.training import ModelConfig, TrainConfig
from ..files import read_json, write_json
from ..hashing import key_of, source_hash
from ..imports import SRC, import_closure

TRAINING_MODULES = "regmix/training/loop.py"  # the code that trains and evaluates a proxy starts here
LIBRARIES = ("torch", "litgpt", "lightning")


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
    accelerator: str = "cpu"  # "cuda" on a GPU worker (a Ray task with num_gpus > 0): other losses
    target: str | None = None  # the domain evaluated on `train.target_eval_tokens`

    def key(self, environment: str) -> str:
        """The cache key: this job's settings and `environment` (data, code and library versions)."""
        return key_of(
            [
                self.mixture,
                dataclasses.asdict(self.model),
                dataclasses.asdict(self.train),
                self.eval_domains,
                self.accelerator,
                self.target,
                environment,
            ]
        )


@cache
def code_fingerprint() -> str:
    """Hash of the source of every module that trains and evaluates a proxy, and of the libraries' versions."""
    entry = SRC.parent / TRAINING_MODULES
    files = import_closure(entry) | {entry, Path(__file__).resolve()}
    return key_of([source_hash(files, SRC.parent), {lib: version(lib) for lib in LIBRARIES}])


def environment_key(tokens_dir: str | Path) -> str:
    """What every proxy of a sweep shares and its losses depend on: the tokenized data's content hash and the code."""
    return key_of([read_json(Path(tokens_dir) / "counts.json")["content_hash"], code_fingerprint()])


def train_proxy(job: ProxyJob) -> tuple[int, dict]:
    """Worker entry point: train one proxy and return (index, `TrainResult.as_dict()`)."""
    import torch
    from lightning.fabric import Fabric

    from ..token_store import TokenStore
    from ..training.loop import train

    torch.set_num_threads(job.threads)
    fabric = Fabric(accelerator=job.accelerator, devices=1, precision=job.train.precision)
    store = TokenStore(job.tokens_dir)
    _, result = train(job.model, job.train, job.mixture, store, list(job.eval_domains), fabric, target=job.target)
    return job.index, json.loads(json.dumps(result.as_dict()))  # as the cache returns it: lists, not tuples


OnResult = Callable[[ProxyJob, dict, bool], None]
Outcome = tuple[ProxyJob, "tuple[int, dict] | None", "BaseException | None"]


class ProxyFailed(RuntimeError):
    """Some proxies failed (after any retries); the others finished and are cached."""


def run_cached(
    jobs: list[ProxyJob],
    cache_dir: str | Path,
    on_result: OnResult | None,
    execute: Callable[[list[ProxyJob]], Iterator[Outcome]],
) -> dict[int, dict]:
    """What every executor shares: load cached proxies, let `execute` train the rest, cache each result.

    `execute(todo)` yields `(job, (index, result), None)` per finished job or `(job, None, error)` per
    failed one, as they complete. Results are cached and reported (`on_result`, in this process) at
    once; failures are raised together after every other job has finished.
    """
    cache_dir = Path(cache_dir)
    environment = environment_key(jobs[0].tokens_dir) if jobs else ""
    path_of = {j.index: cache_dir / f"proxy-{j.index}-{j.key(environment)}.json" for j in jobs}
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
        raise ProxyFailed(
            f"{len(failed)} of {len(jobs)} proxies failed (indices {sorted(failed)}); "
            f"the {len(results)} others are cached, rerun to retry the failed ones. First error: {first!r}"
        ) from first
    return dict(sorted(results.items()))
