"""Tokenization throughput, memory and resume at a given corpus size (the tokenize stages' library, as they run it).

Writes a corpus in the paper's layout (17 Pile-named domains sized by the paper's token prior, Zipf-
distributed words from a 50k-word vocabulary, so the BPE's word cache hits and misses as on text), trains
a GPT-NeoX-sized byte-level BPE on a sample (or takes --tokenizer), then per corpus size and worker
count encodes every domain one after the other, as the encode@<domain> stages do, in a child process
whose process tree's RSS is sampled. Prints MB/s, tokens/s, peak RSS, the ratio to the `tokenizers`
library's own single-threaded `encode_batch` on the same text (the practical limit per core), the
same ratio against `encode_batch` run in as many processes at once as there are workers (what the
machine's cores give together: two processes on two cores do not run at twice one's speed), both
measured right before and after each run, the speed-up from 1 to 2 workers and the projected wall
time for 1 TB on 64 cores. With --kill, the
largest corpus is also killed half-way (SIGKILL) and rerun: the files finished before the kill must
be reused and the output must equal the uninterrupted run's byte for byte.

    python benchmarks/tokenize_throughput.py --sizes-mb 512 2048 --workers 1 2 --kill
    python benchmarks/tokenize_throughput.py --sizes-mb 20 --workers 1 2 --kill      # a quick check
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the bare baseline is one core, as each worker is

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from provenance import RESULTS, provenance  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from regmix.config.data import TokenizeParams  # noqa: E402
from regmix.layout import index_layout, read_index, read_texts  # noqa: E402
from regmix.tokenization.encode import encode_domains  # noqa: E402
from regmix.tokenization.tokenizer import train_bpe  # noqa: E402

EOS = "<|endoftext|>"
PRIOR = {  # the paper's token prior of the 17 Pile domains (profiles/paper.yaml)
    "arxiv": 0.1133, "freelaw": 0.0796, "nih_exporter": 0.0039, "pubmed_central": 0.1854, "wikipedia_en": 0.0511,
    "dm_mathematics": 0.0160, "github": 0.1018, "philpapers": 0.0037, "stackexchange": 0.0665,
    "enron_emails": 0.0018, "gutenberg_pg_19": 0.0271, "pile_cc": 0.2369, "ubuntu_irc": 0.0118,
    "europarl": 0.0079, "hackernews": 0.0080, "pubmed_abstracts": 0.0388, "uspto_backgrounds": 0.0464,
}  # fmt: skip


def _vocabulary(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` distinct pronounceable words of 1 to 4 syllables (BPE splits them as it splits natural words)."""
    syllables = np.array([c + v for c in "bcdfghjklmnprstvwyz" for v in "aeiou"] + ["th", "st", "er", "ing", "ed"])
    words: dict[str, None] = {}
    while len(words) < n:
        k = int(rng.integers(1, 5))
        words["".join(rng.choice(syllables, size=k))] = None
    return np.array(list(words))


def write_corpus(root: Path, size_mb: int, file_mb: int, seed: int = 0) -> None:
    """About `size_mb` MB of JSONL in the paper's layout, domains sized by the Pile's token prior; cut at `file_mb`.

    Words follow Zipf's law over a 50k-word vocabulary; the 2,000 most frequent are shared by every
    domain (function words), the rest ranked differently per domain.
    """
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng, 50_000)
    cdf = np.cumsum(1 / np.arange(1, len(vocab) + 1) ** 1.1)
    cdf /= cdf[-1]
    punct = np.array([" "] * 12 + [", ", ". ", ".\n", " (", ") ", ": ", "; ", "\n\n"])
    for split, scale in (("train", 1.0), ("valid", 0.01)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i, (domain, share) in enumerate(PRIOR.items()):
            drng = np.random.default_rng([seed, i, split == "valid"])
            own = np.concatenate(
                [np.arange(2000), 2000 + np.random.default_rng([seed, i]).permutation(len(vocab) - 2000)]
            )
            target, k, written = max(size_mb * share * scale * 2**20, 20_000), 0, 0
            while written < target:
                with open(root / split / f"{domain}-{k}.jsonl", "w") as f:
                    size = 0
                    while size < file_mb * 2**20 and written + size < target:
                        n = int(drng.integers(100, 3000))
                        ids = own[np.searchsorted(cdf, drng.random(n)).clip(max=len(vocab) - 1)]
                        seps = punct[drng.integers(0, len(punct), size=n)]
                        line = json.dumps({"text": "".join(np.char.add(vocab[ids], seps).tolist())}) + "\n"
                        f.write(line)
                        size += len(line)
                written += size
                k += 1


def sample_texts(root: Path, mb: float) -> list[str]:
    """The first documents of every training domain, about `mb` MB in all (spread over the domains)."""
    out = []
    for domain in PRIOR:
        budget = mb * 2**20 / len(PRIOR)
        for p in sorted((root / "train").glob(f"{domain}-*.jsonl")):
            for t in read_texts(p):
                out.append(t)
                budget -= len(t)
                if budget <= 0:
                    break
            if budget <= 0:
                break
    return out


def bare_encode_batch(tok: Tokenizer, texts: list[str], batch: int = 1000) -> float:
    """MB/s of `encode_batch` alone, one thread, texts already in memory."""
    t = time.perf_counter()
    for i in range(0, len(texts), batch):
        tok.encode_batch(texts[i : i + batch], add_special_tokens=False)
    return sum(len(x.encode()) for x in texts) / 2**20 / (time.perf_counter() - t)


_BARE: tuple[Tokenizer, list[str]] = None  # set before forking the processes of `bare_in_parallel`


def _bare_one(_) -> float:
    return bare_encode_batch(*_BARE)


def bare_in_parallel(tok: Tokenizer, texts: list[str], processes: int) -> float:
    """Aggregate MB/s of `processes` processes running `bare_encode_batch` on the same texts at once."""
    global _BARE
    _BARE = (tok, texts)
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return sum(pool.map(_bare_one, range(processes)))


def child(args) -> None:
    """Encode every domain one after the other (as the encode@<domain> stages run); print JSON stats."""
    index = read_index(args.corpus)
    params = TokenizeParams(domains=sorted(index), workers=args.workers[0])
    t = time.perf_counter()
    done = {"encoded": 0, "reused": 0}
    for domain in sorted(index, key=lambda d: list(PRIOR).index(d)):
        d = encode_domains(args.corpus, {domain: index[domain]}, args.tokenizer, args.out, args.cache, EOS, params)
        done = {k: done[k] + d[k] for k in done}
    print(json.dumps({"seconds": time.perf_counter() - t, **done}))


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def run_child(corpus: Path, tokenizer: Path, out: Path, cache: Path, workers: int, kill_after: int | None = None):
    """Run `child` in a new process group; sample its tree's RSS. With `kill_after`, SIGKILL it once that many
    files are finished. Returns (stats or None if killed, peak RSS of the tree in bytes)."""
    cmd = [sys.executable, __file__, "--child", "--corpus", str(corpus), "--tokenizer", str(tokenizer)]
    cmd += ["--out", str(out), "--cache", str(cache), "--workers", str(workers)]
    log = open(out.parent / "child.log", "w")  # noqa: SIM115 (the child's progress bars; closed below)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, start_new_session=True, text=True)
    peak = [0]

    def sample():
        p = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = sum(q.memory_info().rss for q in [p, *p.children(recursive=True)])
            except psutil.Error:
                continue
            peak[0] = max(peak[0], rss)
            if kill_after is not None and len(list(cache.glob("*.json"))) >= kill_after:
                os.killpg(proc.pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    stdout, _ = proc.communicate()
    sampler.join()
    log.close()
    if proc.returncode not in (0, -signal.SIGKILL):
        raise SystemExit(f"the child failed; see {log.name}")
    return (json.loads(stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None), peak[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--file-mb", type=int, default=8, help="input file size: the unit of parallel work")
    parser.add_argument("--tokenizer", help="a tokenizer.json (e.g. GPT-NeoX's); default: train a BPE")
    parser.add_argument("--vocab", type=int, default=50_277, help="the trained BPE's size (GPT-NeoX's)")
    parser.add_argument("--sample-mb", type=float, default=16, help="text to train the BPE and time encode_batch on")
    parser.add_argument("--kill", action="store_true", help="kill the largest corpus half-way and rerun it")
    parser.add_argument("--dir", default="/tmp/regmix-tokenize-bench")
    parser.add_argument("--out", default=str(RESULTS / "tokenize_throughput.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    work = Path(args.dir)
    results = {"benchmark": "tokenize_throughput", **provenance(["tokenizers", "numpy"]), "runs": []}
    for size in args.sizes_mb:
        corpus = work / f"corpus-{size}mb"
        if not (corpus / "index").is_dir():
            print(f"writing a {size} MB corpus to {corpus} ...", flush=True)
            write_corpus(corpus, size, args.file_mb)
            index_layout(corpus)
        files = [p for s in ("train", "valid") for p in (corpus / s).glob("*.jsonl")]
        nbytes = sum(p.stat().st_size for p in files)
        tok_path = Path(args.tokenizer) if args.tokenizer else work / f"bpe-{args.vocab}.json"
        sample = sample_texts(corpus, args.sample_mb)
        if not tok_path.is_file():
            print(f"training a {args.vocab}-token BPE on {args.sample_mb} MB ...", flush=True)
            train_bpe(sample, args.vocab).save(str(tok_path))
        tok = Tokenizer.from_file(str(tok_path))
        print(f"{size} MB: {nbytes / 2**20:.0f} MB in {len(files)} files")
        hashes = {}
        for workers in args.workers:
            out, cache = work / f"out-{size}-{workers}", work / f"cache-{size}-{workers}"
            subprocess.run(["rm", "-rf", str(out), str(cache)], check=True)
            # the baselines right before and after the run: a shared machine's speed drifts by 10-20% in minutes
            bares = [(bare_encode_batch(tok, sample), bare_in_parallel(tok, sample, workers))]
            stats, peak = run_child(corpus, tok_path, out, cache, workers)
            bares.append((bare_encode_batch(tok, sample), bare_in_parallel(tok, sample, workers)))
            bare, together = (sum(b[i] for b in bares) / 2 for i in (0, 1))
            print(
                f"  bare encode_batch {bare:.2f} MB/s in one process, {together:.2f} MB/s in {workers} at once "
                f"(before and after: {bares})"
            )
            tokens = sum(json.loads(p.read_text())["tokens"] for p in cache.glob("*.json"))
            mbs = nbytes / 2**20 / stats["seconds"]
            run = {
                "size_mb": size,
                "bytes": nbytes,
                "files": len(files),
                "workers": workers,
                "seconds": round(stats["seconds"], 2),
                "mb_per_s": round(mbs, 2),
                "tokens_per_s": round(tokens / stats["seconds"]),
                "peak_rss_mb": round(peak / 2**20),
                "bare_encode_batch_mb_per_s": round(bare, 2),
                "ratio_per_worker": round(mbs / workers / bare, 3),
                "bare_in_parallel_mb_per_s": round(together, 2),
                "ratio_to_bare_in_parallel": round(mbs / together, 3),
                "projected_1tb_64_cores_h": round(2**40 / (mbs / workers * 2**20 * 64) / 3600, 1),
            }
            hashes[workers] = tree_hash(out)
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
            subprocess.run(["rm", "-rf", str(cache)], check=True)
        if len(set(hashes.values())) != 1:
            raise SystemExit(f"output differs between worker counts: {hashes}")
        if args.kill and size == max(args.sizes_mb):
            workers = max(args.workers)
            out, cache = work / f"out-{size}-killed", work / f"cache-{size}-killed"
            subprocess.run(["rm", "-rf", str(out), str(cache)], check=True)
            killed, _ = run_child(corpus, tok_path, out, cache, workers, kill_after=len(files) // 2)
            finished = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.json")}
            stats, _ = run_child(corpus, tok_path, out, cache, workers)
            kept = all((cache / n).stat().st_mtime_ns == t for n, t in finished.items())
            same = tree_hash(out) == hashes[workers]
            kill = {
                "size_mb": size,
                "killed": killed is None,
                "files": len(files),
                "finished_before_kill": len(finished),
                "rerun_encoded": stats["encoded"],
                "rerun_reused": stats["reused"],
                "finished_files_untouched": kept,
                "identical_to_uninterrupted": same,
            }
            results["kill_and_resume"] = kill
            print(json.dumps(kill), flush=True)
            subprocess.run(["rm", "-rf", str(cache), str(out)], check=True)
        for workers in args.workers:
            subprocess.run(["rm", "-rf", str(work / f"out-{size}-{workers}")], check=True)
    for size in args.sizes_mb:
        one = [r for r in results["runs"] if r["size_mb"] == size]
        if len(one) > 1:
            print(
                f"{size} MB: {one[-1]['workers']} workers / 1 worker = {one[-1]['mb_per_s'] / one[0]['mb_per_s']:.2f}x"
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
