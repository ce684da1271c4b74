"""Encode domains into token chunks: streamed, one chunk per input file, in parallel, resumable.

Each input file of a domain becomes one `.npy` chunk: its documents, encoded in batches of at most
`batch_size` documents and `batch_bytes` bytes and written to disk as they come, each followed by
the end-of-text token. Memory holds one batch per worker, whatever the size of the corpus.

Files are encoded by a pool of worker processes (`executor: local`) or by Ray tasks (`executor:
ray`), each worker with its own tokenizer and one core (the tokenizer's own threads are off: the
parallelism is over files); with one worker, or one file to encode, this process encodes it. A
chunk is written into a cache keyed by the input file's SHA-256 and the tokenizer, then renamed
into place, so a killed run keeps its finished files and the rerun encodes only the rest. A chunk
depends only on its file and the tokenizer, so the output is byte-identical whatever the number of
workers or the executor.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tqdm import tqdm

from ..config.data import TokenizeParams
from ..config.sweep import RayConfig
from ..errors import InputError
from ..files import atomic_path, link_or_copy, read_json, write_json
from ..hashing import file_sha256, key_of
from ..layout import read_texts
from ..token_store import token_dtype

FORMAT = 1  # the chunk format's version, part of the cache key
BATCH_BYTES = 1 << 22  # text per encode_batch call: bounds a worker's memory (ids as Python ints cost ~10x the text)
# Below this much text in all, the files are encoded in this process: a spawned worker costs about half a second
# of imports, the time to encode about a megabyte.
POOL_MIN_BYTES = 8 << 20


@dataclass(frozen=True)
class EncodeJob:
    """One input file to encode into the chunk `<cache>/<key>.npy` (absolute paths: workers may run elsewhere)."""

    source: str
    key: str
    cache: str
    tokenizer: str
    eos_id: int
    batch_size: int
    batch_bytes: int = BATCH_BYTES


def _write_header(f, dtype: np.dtype, n: int) -> None:
    # numpy pads the header so the shape may grow to 21 digits: rewriting it in place keeps its length
    np.lib.format.write_array_header_1_0(
        f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)}
    )


def encode_file(tok: Tokenizer, src: str | Path, dst: str | Path, eos_id: int, batch_size: int, batch_bytes: int):
    """Encode the documents of `src` into the `.npy` file `dst`, batch by batch; return (tokens, SHA-256 of the ids).

    Empty and whitespace-only documents are skipped (as the domains stage counts them).
    """
    dtype = np.dtype(token_dtype(tok.get_vocab_size())).newbyteorder("<")
    h, n = hashlib.sha256(), 0
    batch: list[str] = []
    size = 0
    with open(dst, "wb") as f:
        _write_header(f, dtype, 0)
        start = f.tell()

        def flush():
            nonlocal n
            flat: list[int] = []
            for enc in tok.encode_batch(batch, add_special_tokens=False):
                flat += enc.ids
                flat.append(eos_id)
            data = np.array(flat, dtype=dtype).tobytes()
            f.write(data)
            h.update(data)
            n += len(flat)
            batch.clear()

        for text in read_texts(src):
            if text.strip():
                batch.append(text)
                size += len(text)
                if len(batch) >= batch_size or size >= batch_bytes:
                    flush()
                    size = 0
        if batch:
            flush()
        f.seek(0)
        _write_header(f, dtype, n)
        assert f.tell() == start, "the .npy header changed length"
    return n, h.hexdigest()


_TOKENIZERS: dict[str, Tokenizer] = {}  # per worker process: loaded once, reused for every file


def encode_task(job: EncodeJob) -> tuple[str, dict]:
    """Encode one file into the cache (in a worker process, a Ray task or this process); return (key, chunk info)."""
    tok = _TOKENIZERS.get(job.tokenizer)
    if tok is None:
        tok = _TOKENIZERS[job.tokenizer] = Tokenizer.from_file(job.tokenizer)
    cache = Path(job.cache)
    with atomic_path(cache / f"{job.key}.npy") as tmp:
        n, sha = encode_file(tok, job.source, tmp, job.eos_id, job.batch_size, job.batch_bytes)
    info = {"tokens": n, "sha256": sha}
    write_json(cache / f"{job.key}.json", info)  # written last: its presence marks the chunk finished
    return job.key, info


def _one_core() -> None:
    """A worker's setup: the tokenizer's own threads off, since the parallelism is over files, one per worker."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def _ray_task(job: EncodeJob) -> tuple[str, dict]:
    _one_core()
    return encode_task(job)


def _run_local(todo: list[EncodeJob], workers: int, nbytes: int) -> Iterator[tuple[str, dict]]:
    if min(workers, len(todo)) == 1 or nbytes < POOL_MIN_BYTES:  # this process (the tokenizer may use its threads)
        yield from map(encode_task, todo)
        return
    # spawn, not fork: a forked tokenizer's thread pool can deadlock, and spawn behaves the same everywhere
    pool = ProcessPoolExecutor(
        min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"), initializer=_one_core
    )
    try:
        pending = {pool.submit(encode_task, j) for j in todo}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(todo: list[EncodeJob], cfg: RayConfig) -> Iterator[tuple[str, dict]]:
    import ray

    started = not ray.is_initialized()
    if started:
        address = cfg.resolved_address()
        ray.init(address=address, include_dashboard=False, **({} if address else {"num_cpus": cfg.local_cpus}))
    remote = ray.remote(num_cpus=cfg.num_cpus, max_retries=cfg.max_retries)(_ray_task)
    pending = [remote.remote(j) for j in todo]
    try:
        while pending:
            (ref,), pending = ray.wait(pending, num_returns=1)
            try:
                yield ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # bad input in a file: the worker's InputError, as is
                raise (e.cause if isinstance(e.cause, InputError) else e) from None
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _key(file: dict, tokenizer_sha: str, eos_id: int) -> str:
    """The cache key of one input file's chunk: its content, the tokenizer, the EOS id and the chunk format."""
    return key_of({"source": file["sha256"], "tokenizer": tokenizer_sha, "eos": eos_id, "format": FORMAT})


def encode_domains(
    domains_dir: str | Path,
    index: dict[str, dict],
    tokenizer: str | Path,
    out: str | Path,
    cache: str | Path,
    eos_token: str,
    params: TokenizeParams,
    batch_size: int = 1000,
    batch_bytes: int = BATCH_BYTES,
    splits: tuple[str, ...] = ("train", "valid"),
) -> dict[str, int]:
    """Encode `splits` of the domains of `index` ({domain: its index}) into `out/<domain>/`; return {"encoded",
    "reused"} files.

    `out/<domain>/` holds `<split>/<file stem>.npy` (hard links to the cache) and `manifest.json`:
    the tokenizer's SHA-256, the EOS id and, per split, the chunks in input-file order with their
    source file, token count and SHA-256.
    """
    domains_dir, cache = Path(domains_dir).resolve(), Path(cache).resolve()
    tokenizer = str(Path(tokenizer).resolve())
    tok_sha = file_sha256(tokenizer)
    eos_id = Tokenizer.from_file(tokenizer).token_to_id(eos_token)
    if eos_id is None:
        raise InputError(
            f"{tokenizer}, token {eos_token!r}",
            "not in the vocabulary",
            "set tokenizer.eos_token to its end-of-text token",
        )
    cache.mkdir(parents=True, exist_ok=True)
    jobs: dict[str, EncodeJob] = {}
    sizes: dict[str, int] = {}
    for entry in index.values():
        for split in splits:
            for f in entry.get(split, []):
                key = _key(f, tok_sha, eos_id)
                jobs[key] = EncodeJob(
                    str(domains_dir / f["file"]), key, str(cache), tokenizer, eos_id, batch_size, batch_bytes
                )
                sizes[key] = f["bytes"]
    done = {k: read_json(cache / f"{k}.json") for k in jobs if (cache / f"{k}.json").is_file()}
    todo = sorted((j for k, j in jobs.items() if k not in done), key=lambda j: (-sizes[j.key], j.source))  # big first
    if todo:
        total = sum(sizes[j.key] for j in todo)
        run = _run_ray(todo, params.ray) if params.executor == "ray" else _run_local(todo, params.workers, total)
        with tqdm(total=total, unit="B", unit_scale=True, desc="tokenize") as bar:
            for key, info in run:
                done[key] = info
                bar.update(sizes[key])
    for domain, entry in index.items():
        manifest = {"domain": domain, "tokenizer_sha256": tok_sha, "eos_id": eos_id}
        with atomic_path(Path(out) / domain) as tmp:
            for split in splits:
                if split not in entry:
                    continue
                (tmp / split).mkdir(parents=True)
                manifest[split] = []
                for f in entry[split]:
                    key = _key(f, tok_sha, eos_id)
                    chunk = f"{split}/{Path(f['file']).name.removesuffix('.jsonl')}.npy"
                    link_or_copy(cache / f"{key}.npy", tmp / chunk)
                    manifest[split].append({"chunk": chunk, "source": f["file"], **done[key]})
            write_json(tmp / "manifest.json", manifest)
    return {"encoded": len(todo), "reused": len(jobs) - len(todo)}
