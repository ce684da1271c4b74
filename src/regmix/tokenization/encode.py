"""Encode domains into token chunks: streamed, one chunk per input file, in parallel, resumable.

Each input file of a domain becomes one `.npy` chunk: its documents, encoded in batches of at most
`batch_size` documents and `batch_bytes` bytes and written to disk as they come, each followed by
the end-of-text token. Memory holds one batch per worker, whatever the size of the corpus.

The unit of work is a part of a file: byte ranges of about `part_bytes` that start and end at line
boundaries, so a domain of a few big files keeps every worker busy and a kill loses at most one
part per worker. A file of several parts is encoded part by part into `<cache>/parts/`; when its
last part is done, this process concatenates them into the file's chunk. The parts are encoded by a
pool of worker processes (`executor: local`) or by Ray tasks (`executor: ray`), each worker with its
own tokenizer and one core (the tokenizer's own threads are off: the parallelism is over parts);
with one worker, or little text, this process encodes them. Every chunk and part is written under a
temporary name and renamed into place, its `.json` last, so a killed run keeps what it finished and
the rerun encodes only the rest. Documents are encoded one by one, so a chunk depends only on its
file and the tokenizer: the output is byte-identical whatever the number of workers, the executor or
the part size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import multiprocessing
import os
from collections import Counter
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
PART_BYTES = 1 << 20  # the unit of work: under a second of one core, so a domain's last parts leave little idle
# Below this much text in all (at most a part or two, nothing to share out), the parts are encoded in this process.
POOL_MIN_BYTES = 1 << 20


@dataclass(frozen=True)
class EncodeJob:
    """Bytes `start` to `end` (line starts; `end` None: to the end) of an input file, to encode into the chunk
    `<cache>/<key>.npy` (the whole file) or a part of it (absolute paths: workers may run elsewhere)."""

    source: str
    key: str
    cache: str
    tokenizer: str
    eos_id: int
    batch_size: int
    batch_bytes: int = BATCH_BYTES
    start: int = 0
    end: int | None = None
    nbytes: int = 0  # the text to encode, for scheduling and progress

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end is None

    @property
    def path(self) -> Path:
        """Where the encoded ids go (`.npy`) and, written last, their count and hash (`.json`)."""
        cache = Path(self.cache)
        return cache / f"{self.key}.npy" if self.whole else cache / "parts" / f"{self.key}.{self.start}-{self.end}.npy"


def _write_header(f, dtype: np.dtype, n: int) -> None:
    # numpy pads the header so the shape may grow to 21 digits: rewriting it in place keeps its length
    np.lib.format.write_array_header_1_0(
        f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)}
    )


def line_ranges(path: str | Path, part_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of about `part_bytes` covering the file `path`, each starting at a line start. They depend only
    on the file's bytes and `part_bytes`."""
    size = os.path.getsize(path)
    starts = [0]
    with open(path, "rb") as f:
        while starts[-1] + part_bytes < size:
            f.seek(starts[-1] + part_bytes - 1)  # from the byte before: a line starting exactly there is a start
            f.readline()
            if f.tell() >= size:
                break
            starts.append(f.tell())
    return list(zip(starts, [*starts[1:], size], strict=True))


def encode_file(
    tok: Tokenizer,
    src: str | Path,
    dst: str | Path,
    eos_id: int,
    batch_size: int,
    batch_bytes: int,
    start: int = 0,
    end: int | None = None,
):
    """Encode the documents of `src` (bytes `start` to `end`) into the `.npy` file `dst`, batch by batch; return
    (tokens, SHA-256 of the ids).

    Empty and whitespace-only documents are skipped (as the domains stage counts them).
    """
    dtype = np.dtype(token_dtype(tok.get_vocab_size())).newbyteorder("<")
    h, n = hashlib.sha256(), 0
    batch: list[str] = []
    size = 0
    with open(dst, "wb") as f:
        _write_header(f, dtype, 0)
        header = f.tell()

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

        for text in read_texts(src, start, end):
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
        assert f.tell() == header, "the .npy header changed length"
    return n, h.hexdigest()


_TOKENIZERS: dict[str, Tokenizer] = {}  # per worker process: loaded once, reused for every part


def encode_task(job: EncodeJob) -> dict:
    """Encode one file or part (in a worker process, a Ray task or this process); return its token count and hash."""
    tok = _TOKENIZERS.get(job.tokenizer)
    if tok is None:
        tok = _TOKENIZERS[job.tokenizer] = Tokenizer.from_file(job.tokenizer)
    with atomic_path(job.path) as tmp:
        n, sha = encode_file(tok, job.source, tmp, job.eos_id, job.batch_size, job.batch_bytes, job.start, job.end)
    info = {"tokens": n, "sha256": sha}
    write_json(job.path.with_suffix(".json"), info)  # written last: its presence marks the chunk or part finished
    return info


def _concatenate(whole: EncodeJob, parts: list[EncodeJob]) -> dict:
    """Write the chunk of `whole` from its finished `parts` (in file order), streamed; remove the parts."""
    arrays = [np.load(p.path, mmap_mode="r") for p in parts]
    h, n = hashlib.sha256(), sum(len(a) for a in arrays)
    with atomic_path(whole.path) as tmp, open(tmp, "wb") as out:
        _write_header(out, arrays[0].dtype, n)
        for a in arrays:
            for i in range(0, len(a), 1 << 21):
                block = a[i : i + (1 << 21)].tobytes()
                out.write(block)
                h.update(block)
    del arrays
    info = {"tokens": n, "sha256": h.hexdigest()}
    write_json(whole.path.with_suffix(".json"), info)
    for part in parts:
        part.path.with_suffix(".json").unlink()
        part.path.unlink()
    return info


def _one_core() -> None:
    """A worker's setup: the tokenizer's own threads off, since the parallelism is over parts, one per worker."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def _ray_task(job: EncodeJob) -> dict:
    _one_core()
    return encode_task(job)


def _run_local(todo: list[EncodeJob], workers: int, nbytes: int) -> Iterator[tuple[EncodeJob, dict]]:
    if min(workers, len(todo)) == 1 or nbytes < POOL_MIN_BYTES:  # this process (the tokenizer may use its threads)
        yield from ((j, encode_task(j)) for j in todo)
        return
    # fork: a worker starts in milliseconds with the tokenizer this process loaded (spawn took a second of imports
    # per domain). `tokenizers` turns its thread pool off in a child forked after it was used, so no deadlock.
    pool = ProcessPoolExecutor(
        min(workers, len(todo)), mp_context=multiprocessing.get_context("fork"), initializer=_one_core
    )
    jobs, pending = iter(todo), {}

    def submit(n: int) -> None:  # a few per worker in flight: the queue's memory does not grow with the corpus
        for j in itertools.islice(jobs, n):
            pending[pool.submit(encode_task, j)] = j

    try:
        submit(2 * workers)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield pending.pop(fut), fut.result()
            submit(len(done))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(todo: list[EncodeJob], cfg: RayConfig) -> Iterator[tuple[EncodeJob, dict]]:
    import ray

    started = not ray.is_initialized()
    if started:
        address = cfg.resolved_address()
        ray.init(address=address, include_dashboard=False, **({} if address else {"num_cpus": cfg.local_cpus}))
    remote = ray.remote(num_cpus=cfg.num_cpus, max_retries=cfg.max_retries)(_ray_task)
    slots = int(ray.cluster_resources().get("CPU", 1) / cfg.num_cpus)
    jobs, submitted = iter(todo), {}
    pending: list = []

    def submit(n: int) -> None:  # a few per slot in flight: the driver's memory does not grow with the corpus
        for j in itertools.islice(jobs, n):
            ref = remote.remote(j)
            submitted[ref] = j
            pending.append(ref)

    try:
        submit(2 * max(slots, 1))
        while pending:
            (ref,), rest = ray.wait(pending, num_returns=1)
            pending[:] = rest
            submit(1)
            try:
                yield submitted.pop(ref), ray.get(ref)
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


def _finished(job: EncodeJob) -> dict | None:
    """The token count and hash of a finished chunk or part; None if not finished."""
    json_path = job.path.with_suffix(".json")
    return read_json(json_path) if json_path.is_file() else None


def _parts(job: EncodeJob, part_bytes: int) -> list[EncodeJob]:
    """The jobs that encode the file of `job`: itself if it is one part."""
    ranges = line_ranges(job.source, part_bytes)
    if len(ranges) == 1:
        return [dataclasses.replace(job, nbytes=ranges[0][1])]
    return [dataclasses.replace(job, start=a, end=b, nbytes=b - a) for a, b in ranges]


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
    part_bytes: int = PART_BYTES,
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
    tok = _TOKENIZERS[tokenizer] = Tokenizer.from_file(tokenizer)  # also the forked workers'
    eos_id = tok.token_to_id(eos_token)
    if eos_id is None:
        raise InputError(
            f"{tokenizer}, token {eos_token!r}",
            "not in the vocabulary",
            "set tokenizer.eos_token to its end-of-text token",
        )
    cache.mkdir(parents=True, exist_ok=True)
    files: dict[str, EncodeJob] = {}  # the whole-file job of each chunk
    for entry in index.values():
        for split in splits:
            for f in entry.get(split, []):
                key = _key(f, tok_sha, eos_id)
                source = str(domains_dir / f["file"])
                files[key] = EncodeJob(source, key, str(cache), tokenizer, eos_id, batch_size, batch_bytes)
    done = {k: info for k, j in files.items() if (info := _finished(j))}
    parts = {k: _parts(j, part_bytes) for k, j in files.items() if k not in done}
    todo = sorted(
        (p for ps in parts.values() for p in ps if _finished(p) is None),
        key=lambda p: (-p.nbytes, p.source, p.start),  # big first: the last to finish are small
    )
    waiting = Counter(p.key for p in todo)
    for k in parts.keys() - waiting.keys():  # every part finished before a kill, not yet concatenated
        done[k] = _concatenate(files[k], parts[k])
    if todo:
        total = sum(p.nbytes for p in todo)
        run = _run_ray(todo, params.ray) if params.executor == "ray" else _run_local(todo, params.workers, total)
        with tqdm(total=total, unit="B", unit_scale=True, desc="tokenize") as bar:
            for job, info in run:
                bar.update(job.nbytes)
                waiting[job.key] -= 1
                if not waiting[job.key]:
                    done[job.key] = info if job.whole else _concatenate(files[job.key], parts[job.key])
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
    return {"encoded": len(parts), "reused": len(files) - len(parts)}  # files
