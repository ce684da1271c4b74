"""The Ray proxy sweep on GPUs: aggregate training tokens/s with k proxies sharing each GPU (num_gpus = 1/k).

What it does
  1. Writes a token directory in a temporary folder by the project's own path, as tests/conftest.py's
     `tokens_dir` does (regmix.layout.write_layout, then regmix.tokenization.run.tokenize_layout, here with
     a given tokenizer.json): `--domains` domains of documents of uniformly random words, and a word-level
     tokenizer of `--vocab` words (one id per word; 50432 by default, the paper's padded GPT-NeoX
     vocabulary; --tiny: 512), so the tokens are random ids over the whole vocabulary.
  2. Starts one local Ray cluster (`--gpus` GPUs, by default all visible ones; `--cpus` CPUs) that every
     round joins, and trains one untimed warm-up round (the largest k per GPU, `--short-steps` steps): Ray's
     start, the first imports and the disk cache are not counted (on a CPU, where Ray reuses its worker
     processes, every worker is started by then).
  3. For each k of `--per-gpu` (1 2 4 8): k x G proxies of `--preset` (regmix-1m), each with its own
     Dirichlet-random mixture, `ProxyJob`s trained by `regmix.proxy.ray_executor.run_jobs_ray` (the sweep's
     executor, `train_proxy` as the task) with `RayConfig(num_gpus=1/k, num_cpus=min(1, cpus / (k x G)))`,
     all at once, into a fresh cache folder (nothing is loaded from a cache). Each proxy trains `--steps`
     optimizer steps of `--batch-size` sequences of block_size (2048) tokens, `--micro-batch-size` per
     forward, `--precision` (bf16-mixed on GPU), then evaluates one block per domain (`--eval-tokens`).
     The round is timed from the `run_jobs_ray` call to its return.
  4. The same round again with `--short-steps` steps, so that a per-proxy fixed cost cancels:
       wall tokens/s    = all proxies' trained tokens / wall time of the `--steps` round: what a sweep of
                          such proxies gets, every per-proxy cost counted. A Ray task asking for a GPU runs
                          in a fresh worker process (Ray's max_calls=1 for GPU tasks), so every proxy pays
                          its process start, imports, CUDA context, model build and final evaluation.
       steady tokens/s  = (tokens of the --steps round - tokens of the --short-steps round)
                          / (wall of the --steps round - wall of the --short-steps round):
                          the training rate with those fixed costs taken out (None if the difference of
                          the walls is not positive: too few steps for the noise).
     x vs k=1 divides each by k=1's. "s per proxy" is the mean of the proxies' own `seconds` (from
     model build to the end of the final evaluation, inside the task); "task s" adds the worker's
     imports. Every proxy's `tokens_seen` must equal steps x batch x block (checked).
  5. Prints a markdown table and writes the rows, settings, library versions, date and machine to
     `benchmarks/results/gpu_ray_sweep_<gpu>.json` (<gpu> as gpu_proxy_throughput.py's `gpu_slug`, e.g.
     h100; `_<preset>` appended for another preset; `--out` for another path; on a CPU only with --out).

On a CPU (`--device cpu`) there is no GPU to share: k is the number of proxies trained at once on the
local cluster (`--cpus`, 2 by default; a fraction of a CPU per task when k exceeds them), one torch
thread each; the rows are labelled so. It checks the script, not a GPU's figures.

A round that fails (e.g. CUDA out of memory at k=8: lower --micro-batch-size) is reported and skipped.

Usage
  python benchmarks/gpu_ray_sweep.py      # on a GPU machine: k = 1 2 4 8, regmix-1m, writes the results file
  python benchmarks/gpu_ray_sweep.py --device cpu --tiny --per-gpu 1 2 --steps 30 --short-steps 5 \
      --out /tmp/gpu_ray_sweep_cpu.json                                                 # CPU smoke test
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path
from typing import get_args

import numpy as np
from gpu_proxy_throughput import gpu_slug
from provenance import RESULTS, provenance

from regmix.config.data import EOS, TokenizeParams, TokenizerConfig
from regmix.config.sweep import RayConfig
from regmix.config.training import PAPER_PRESETS, PAPER_VOCAB_SIZE, Loss, ModelConfig, TrainConfig
from regmix.files import write_json
from regmix.layout import write_layout
from regmix.proxy.jobs import ProxyFailed, ProxyJob, train_proxy
from regmix.proxy.ray_executor import run_jobs_ray
from regmix.tokenization.run import tokenize_layout

TINY = ModelConfig(n_layer=2, n_head=2, n_embd=32, intermediate_size=64, block_size=64)
TINY_VOCAB = 512
DOC_WORDS = 1000  # words (tokens) per random document; each document is followed by the end-of-text token


def write_tokens(root: Path, n_domains: int, vocab: int, train_tokens: int, valid_tokens: int, seed: int = 0) -> Path:
    """A TokenStore directory `root/tokens` of `n_domains` domains of random token ids in [1, vocab), with at least
    `train_tokens` training and `valid_tokens` validation tokens each, written by the project's tokenization."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = [EOS, *(f"w{i}" for i in range(1, vocab))]  # id i is word i; the end-of-text token is id 0
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=EOS))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    root.mkdir(parents=True, exist_ok=True)
    tok.save(str(root / "tokenizer.json"))
    rng = np.random.default_rng(seed)

    def docs(n_tokens: int) -> list[str]:
        ids = rng.integers(1, vocab, size=(-(-n_tokens // (DOC_WORDS + 1)), DOC_WORDS))
        return [" ".join(words[i] for i in row) for row in ids]

    names = [f"domain{i}" for i in range(n_domains)]
    splits = {"train": {d: docs(train_tokens) for d in names}, "valid": {d: docs(valid_tokens) for d in names}}
    write_layout(root / "domains", splits, {"benchmark": "gpu_ray_sweep"})
    cfg = TokenizerConfig(path=str(root / "tokenizer.json"))
    tokenize_layout(root / "domains", root / "tokens", cfg, None, TokenizeParams(domains=names, workers=1))
    return root / "tokens"


def make_jobs(
    n: int, tokens_dir: Path, domains: list[str], model: ModelConfig, train: TrainConfig, device: str, seed: int
) -> list[ProxyJob]:
    """`n` proxies, each with its own Dirichlet(1)-random mixture over `domains`, evaluated on every domain."""
    rng = np.random.default_rng(seed)
    return [
        ProxyJob(
            index=i,
            mixture={d: float(w) for d, w in zip(domains, rng.dirichlet(np.ones(len(domains))), strict=True)},
            tokens_dir=str(tokens_dir),
            model=model,
            train=train,
            eval_domains=tuple(domains),
            threads=1,
            accelerator=device,
        )
        for i in range(n)
    ]


def measured_proxy(job: ProxyJob) -> tuple[int, dict]:
    """The Ray task: `train_proxy`, plus the task's own time (imports included), its process and its peak GPU memory."""
    start = time.perf_counter()
    index, result = train_proxy(job)
    import torch

    result["task_s"] = time.perf_counter() - start
    result["pid"] = os.getpid()
    cuda = job.accelerator == "cuda"
    result["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    return index, result


def floor4(x: float) -> float:
    """`x` rounded down to Ray's resource precision (1e-4), so that n tasks of 1/n fit in 1."""
    return math.floor(x * 1e4) / 1e4


def run_round(jobs: list[ProxyJob], cache: Path, num_gpus: float, num_cpus: float) -> tuple[float, dict[int, dict]]:
    """Train `jobs` through `run_jobs_ray` into the empty folder `cache`; return (wall seconds, results)."""
    cfg = RayConfig(num_gpus=num_gpus, num_cpus=num_cpus, max_retries=0)
    start = time.perf_counter()
    results = run_jobs_ray(jobs, cache, cfg, task=measured_proxy)
    return time.perf_counter() - start, results


def trained_tokens(results: dict[int, dict], steps: int, batch: int, block: int) -> int:
    """All proxies' training tokens; each must have trained exactly `steps` x `batch` x `block` tokens."""
    wrong = {i: r["tokens_seen"] for i, r in results.items() if r["tokens_seen"] != steps * batch * block}
    if wrong:
        raise RuntimeError(f"proxies trained other than {steps} x {batch} x {block} tokens: {wrong}")
    return sum(r["tokens_seen"] for r in results.values())


def figures(tokens: int, wall: float, short_tokens: int | None, short_wall: float | None) -> dict:
    """Wall tokens/s, and steady tokens/s from the difference with the short round (None if not measurable)."""
    steady = None
    if short_tokens is not None and short_wall is not None and wall > short_wall and tokens > short_tokens:
        steady = (tokens - short_tokens) / (wall - short_wall)
    return {"tokens": tokens, "wall_s": wall, "tokens_per_s": tokens / wall, "steady_tokens_per_s": steady}


def add_speedups(rows: list[dict]) -> None:
    """`x_vs_k1` and `steady_x_vs_k1`: each row's rates over the k=1 row's (None without one)."""
    base = next((r for r in rows if r["k"] == 1), None)
    for r in rows:
        r["x_vs_k1"] = r["tokens_per_s"] / base["tokens_per_s"] if base else None
        ok = base and r["steady_tokens_per_s"] and base["steady_tokens_per_s"]
        r["steady_x_vs_k1"] = r["steady_tokens_per_s"] / base["steady_tokens_per_s"] if ok else None


def fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def table(rows: list[dict], cuda: bool) -> str:
    k_label = "k per GPU" if cuda else "k at once (CPU)"
    lines = [
        f"| {k_label} | proxies | wall s | aggregate tokens/s | x vs k=1 | steady tokens/s | x vs k=1 (steady) "
        "| s per proxy | task s | peak mem GiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['k']} | {r['proxies']} | {r['wall_s']:.1f} | {r['tokens_per_s']:,.0f} | {fmt(r['x_vs_k1'], '.2f')} "
            f"| {fmt(r['steady_tokens_per_s'], ',.0f')} | {fmt(r['steady_x_vs_k1'], '.2f')} "
            f"| {r['proxy_s']:.2f} | {r['task_s']:.2f} | {fmt(r['peak_mem_gib'], '.1f')} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--tiny", action="store_true", help="tiny model, vocabulary and batch (CPU smoke test)")
    p.add_argument("--preset", default="regmix-1m", choices=sorted(PAPER_PRESETS))
    p.add_argument("--per-gpu", type=int, nargs="+", default=[1, 2, 4, 8], help="proxies per GPU (num_gpus = 1/k)")
    p.add_argument("--gpus", type=int, help="GPUs to use (default: all visible ones; on CPU 1)")
    p.add_argument("--cpus", type=int, help="CPUs of the local Ray cluster (default: all; on CPU 2)")
    p.add_argument("--steps", type=int, default=60, help="optimizer steps per proxy in the timed round")
    p.add_argument("--short-steps", type=int, default=10, help="steps of the short round (steady rate) and warm-up")
    p.add_argument("--batch-size", type=int, help="sequences per optimizer step (default 32; --tiny 8)")
    p.add_argument("--micro-batch-size", type=int, help="sequences per forward (default 4; --tiny: the batch)")
    p.add_argument("--precision", help="Fabric precision (default: bf16-mixed on cuda, 32-true on cpu)")
    p.add_argument("--loss", default="plain", choices=get_args(Loss), help="train.loss (liger: CUDA only)")
    p.add_argument("--eval-tokens", type=int, help="validation tokens per domain (default: one block)")
    p.add_argument("--domains", type=int, default=4, help="domains of the token directory")
    p.add_argument("--vocab", type=int, help=f"vocabulary (default {PAPER_VOCAB_SIZE}; --tiny {TINY_VOCAB})")
    p.add_argument("--no-short", action="store_true", help="skip the short rounds (no steady figures)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="results file (default benchmarks/results/gpu_ray_sweep_<gpu>.json)")
    args = p.parse_args(argv)

    import ray
    import torch

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        p.error("no CUDA device: use --device cpu (with --tiny for a smoke test)")
    model = TINY if args.tiny else PAPER_PRESETS[args.preset]
    vocab = args.vocab or (TINY_VOCAB if args.tiny else PAPER_VOCAB_SIZE)
    batch = args.batch_size or (8 if args.tiny else 32)
    micro = args.micro_batch_size or (None if args.tiny else min(4, batch))
    precision = args.precision or ("bf16-mixed" if cuda else "32-true")
    gpus = args.gpus or (torch.cuda.device_count() if cuda else 1)
    cpus = args.cpus or ((os.cpu_count() or 1) if cuda else 2)
    block = model.block_size
    eval_tokens = args.eval_tokens or block

    def train_cfg(steps: int) -> TrainConfig:
        return TrainConfig(
            tokens=steps * batch * block,
            batch_size=batch,
            micro_batch_size=micro,
            precision=precision,
            loss=args.loss,
            eval_tokens=eval_tokens,
            seed=args.seed,
        )

    for steps in (args.steps, args.short_steps):
        train_cfg(steps).accumulation()  # a batch that does not split into micro-batches fails here, not in Ray
    head = (
        f"preset {'tiny' if args.tiny else args.preset} (vocab {vocab}, block {block}); {gpus} "
        f"{'GPU' if cuda else 'CPU node'}(s), {cpus} CPUs; {args.steps} steps (short round {args.short_steps}) of "
        f"{batch} x {block} tokens, micro-batch {micro or batch}, {precision}, loss {args.loss}; "
        f"torch {torch.__version__}, ray {ray.__version__}"
    )
    print(head, flush=True)

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="gpu_ray_sweep-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        train_tokens = max(16 * (block + 1), 4 * eval_tokens)
        tokens_dir = write_tokens(tmp / "data", args.domains, vocab, train_tokens, eval_tokens + 2 * block, args.seed)
        domains = [f"domain{i}" for i in range(args.domains)]
        print(f"token directory written in {time.perf_counter() - start:.1f} s", flush=True)
        ray.init(
            address="local", num_cpus=cpus, num_gpus=gpus if cuda else 0, include_dashboard=False, log_to_driver=False
        )
        try:
            device = "cuda" if cuda else "cpu"
            round_no = 0

            def one_round(k: int, steps: int) -> tuple[float, dict[int, dict]]:
                nonlocal round_no
                round_no += 1
                n = k * gpus
                jobs = make_jobs(n, tokens_dir, domains, model, train_cfg(steps), device, args.seed + round_no)
                return run_round(
                    jobs, tmp / f"cache-{round_no}", floor4(1 / k) if cuda else 0.0, min(1.0, floor4(cpus / n))
                )

            try:  # the largest k: on CPU, this also starts every worker process the rounds will use
                wall, _ = one_round(max(args.per_gpu), args.short_steps)
                print(f"warm-up round ({max(args.per_gpu) * gpus} proxies, {args.short_steps} steps): {wall:.1f} s")
            except (ProxyFailed, ray.exceptions.RayError) as e:  # that k's row will fail too; the others still run
                print(f"warm-up round failed: {type(e).__name__}: {str(e)[:2000]}", flush=True)
            for k in args.per_gpu:
                try:
                    wall, results = one_round(k, args.steps)
                    short_tokens = short_wall = None
                    if not args.no_short:
                        short_wall, short = one_round(k, args.short_steps)
                        short_tokens = trained_tokens(short, args.short_steps, batch, block)
                except (ProxyFailed, ray.exceptions.RayError) as e:  # keep the other rows (e.g. out of memory)
                    print(f"  k={k} failed: {type(e).__name__}: {str(e)[:2000]}", flush=True)
                    continue
                tokens = trained_tokens(results, args.steps, batch, block)
                each = list(results.values())
                mems = [x["peak_mem_gib"] for x in each if x["peak_mem_gib"] is not None]
                r = {
                    "k": k,
                    "proxies": k * gpus,
                    "num_gpus": floor4(1 / k) if cuda else 0.0,
                    "num_cpus": min(1.0, floor4(cpus / (k * gpus))),
                    **figures(tokens, wall, short_tokens, short_wall),
                    "short_wall_s": short_wall,
                    "proxy_s": float(np.mean([x["seconds"] for x in each])),
                    "task_s": float(np.mean([x["task_s"] for x in each])),
                    "proxy_s_each": [round(x["seconds"], 3) for x in each],
                    "worker_processes": len({x["pid"] for x in each}),
                    "peak_mem_gib": max(mems) if mems else None,
                }
                rows.append(r)
                print(
                    f"  k={k}: {r['proxies']} proxies, {wall:.1f} s, {r['tokens_per_s']:,.0f} tokens/s "
                    f"(steady {fmt(r['steady_tokens_per_s'], ',.0f')})",
                    flush=True,
                )
        finally:
            ray.shutdown()

    add_speedups(rows)
    name = torch.cuda.get_device_name(0) if cuda else "cpu"
    print(f"\ndevice: {name}; {head}\n\n{table(rows, cuda)}")
    suffix = "" if args.tiny or args.preset == "regmix-1m" else f"_{args.preset}"
    out = args.out or RESULTS / f"gpu_ray_sweep_{gpu_slug(name)}{suffix}.json"
    if args.out or (cuda and not args.tiny):
        write_json(
            out,
            {
                "benchmark": "gpu_ray_sweep",
                **provenance(["torch", "litgpt", "lightning", "ray"]),
                "device": name,
                "gpus": gpus if cuda else 0,
                "cpus": cpus,
                "preset": "tiny" if args.tiny else args.preset,
                "model": model.as_dict(),
                "vocab": vocab,
                "settings": {
                    "steps": args.steps,
                    "short_steps": None if args.no_short else args.short_steps,
                    "batch_size": batch,
                    "micro_batch_size": micro,
                    "precision": precision,
                    "loss": args.loss,
                    "eval_tokens": eval_tokens,
                    "domains": args.domains,
                    "per_gpu": args.per_gpu,
                    "seed": args.seed,
                },
                "rows": rows,
            },
        )
        print(f"written to {out}")


if __name__ == "__main__":
    main()
