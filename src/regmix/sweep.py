"""The proxy sweep: train one small model per mixture in parallel worker processes.

A shard (one DVC stage) trains its proxies in a process pool. Each finished proxy is saved at
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
from typing import Callable

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

    def key(self, tokens_fingerprint: str) -> str:
        return key_of([self.mixture, dataclasses.asdict(self.model), dataclasses.asdict(self.train), self.eval_domains, tokens_fingerprint])


def train_proxy(job: ProxyJob) -> tuple[int, dict]:
    """Worker entry point: train one proxy and return (index, `TrainResult.as_dict()`)."""
    import torch

    from .tokens import TokenStore
    from .train import train

    torch.set_num_threads(job.threads)
    _, result = train(job.model, job.train, job.mixture, TokenStore(job.tokens_dir), list(job.eval_domains))
    return job.index, json.loads(json.dumps(result.as_dict()))  # as the cache returns it: lists, not tuples


def tokens_fingerprint(tokens_dir: str | Path) -> str:
    """Identifies the tokenized data cheaply (its counts and tokenizer)."""
    root = Path(tokens_dir)
    return key_of([read_json(root / "counts.json"), (root / "tokenizer.json").stat().st_size])


def run_jobs(
    jobs: list[ProxyJob],
    cache_dir: str | Path,
    workers: int,
    on_result: Callable[[ProxyJob, dict, bool], None] | None = None,
) -> dict[int, dict]:
    """Train `jobs` (cached ones are loaded, not retrained); call `on_result(job, result, cached)` for each."""
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
    by_index = {j.index: j for j in jobs}
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="proxies", unit="proxy")
    # spawn, not fork: a forked child inherits torch's thread pools in an unknown state
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo) or 1)), mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(train_proxy, job) for job in todo]
        for future in as_completed(futures):
            index, result = future.result()
            write_json(path_of[index], result)
            results[index] = result
            if on_result:
                on_result(by_index[index], result, False)
            bar.update()
    bar.close()
    return dict(sorted(results.items()))


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
