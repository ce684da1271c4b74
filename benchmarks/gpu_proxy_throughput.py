"""Training throughput and MFU of the RegMix 1M proxy (litgpt) on one GPU.

What it does
  1. Measures the device's dense bf16 matrix rate: `--gemm-size`^3 products (8192 by default)
     of random bf16 matrices, each timed with CUDA events after 10 warm-up products; the
     median is the MFU denominator ("measured peak", not the datasheet's).
  2. Trains the `regmix-1m` preset (vocab 50432, sequences of 2048 tokens) with real
     forward + backward + gradient clipping (1.0) + AdamW (lr 4e-4) steps on random tokens,
     `--batch-size` sequences per proxy per optimizer step (RegMix: 512) by gradient
     accumulation over micro-batches, in these variants:
       fp32-eager       one model, float32
       bf16-eager       one model, bf16 autocast (fp32 master weights), PyTorch SDPA,
                        litgpt's lm_head + F.cross_entropy
       bf16-compile     the same, loss function under torch.compile   (--compile)
       stacked-eager    K models in one process (regmix.training.stacked.StackedProxies):
                        torch.func.stack_module_state + vmap(functional_call) for the
                        transformer body, bf16 autocast, each proxy with its own data, loss
                        and gradient clipping; lm_head + loss as one autograd function that
                        writes the logits' gradient in the loss kernel (linear_cross_entropy)
       stacked-compile  the same, body and loss kernel under torch.compile (--compile)
       liger-eager      bf16-eager with liger-kernel's fused linear cross-entropy
                        (regmix.training.loss, `train.loss: liger`): the logits are never
                        held whole (CUDA only; requirements-gpu.txt)
       liger-compile    the same, under torch.compile (--compile)
     `--micro-batch` is the number of sequences per forward pass over all proxies together
     (a stack of K runs micro-batch // K sequences per proxy).
  3. With --find-micro, the largest micro-batch (a power of two up to --batch-size) whose
     forward + backward fits in the GPU's memory, per variant.
  4. Prints a markdown table and writes the results, with the settings, library versions, date
     and machine, to `benchmarks/results/gpu_proxy_throughput_<name>.json` (`--name`, by default
     the GPU's model, e.g. h100; `--out` for another path; on a CPU only with `--name` or `--out`).
     README.md's GPU table is rendered from `gpu_proxy_throughput_h100.json`
     (`python benchmarks/readme_tables.py --write`).

FLOPs per token (training = forward + backward = 3x forward; embedding lookups, norms,
rotary, softmax and the optimizer are not counted):
    F = 6 * N_matmul + 12 * n_layer * T * n_embd
  N_matmul = weights of every nn.Linear, lm_head included
           = n_layer * (n_embd * (n_head + 2 * n_query_groups) * head_size   # qkv
                        + n_embd * n_embd                                     # attn proj
                        + 3 * n_embd * intermediate_size)                     # SwiGLU MLP
             + n_embd * vocab                                                 # lm_head
  The attention term counts q @ k^T and att @ v over the FULL T x T square (PaLM-style,
  2 matmuls * 2 FLOPs * T * n_embd per token per layer, times 3), i.e. WITHOUT the 1/2
  factor for causal masking. The table's last column gives the MFU with the 1/2 factor
  (attention term 6 * n_layer * T * n_embd), which is the work a causal kernel really does.
  regmix-1m, T = 2048: N_matmul = 1,310,720 + 12,910,592 = 14,221,312;
  F = 85,327,872 + 12,582,912 = 97,910,784 (91,619,328 with the 1/2 factor).
  MFU = F * tokens/s / measured bf16 matmul FLOP/s; the table gives beside it the MFU against the
  datasheet's dense bf16 peak (DATASHEET_TFLOPS by GPU, or --datasheet-tflops).

Measured (H100 80GB HBM3, torch 2.11.0+cu130, bf16 matmul 754 TFLOP/s, micro-batch 32):
  bf16-compile 2.83M tokens/s = 36.8% MFU; stacked-compile K=1/4/16: 36.6/34.7/31.0%;
  bf16-eager 14.5%, fp32-eager 4.6%. Limit: the lm_head's logits (50432 per token): the
  loss kernel is memory-bound (~35% of GPU time), the matmuls ~38% (at ~600 TFLOP/s), flash
  attention with head size 32 ~12%.

Usage
  python benchmarks/gpu_proxy_throughput.py --compile --stack 1 4 16 --batch-size 512 --steps 1   # README's table
  python benchmarks/gpu_proxy_throughput.py --device cpu --tiny --compile --out /tmp/gpu.json     # smoke test
  python benchmarks/gpu_proxy_throughput.py --compile --variants bf16-compile liger-compile \
      --preset regmix-1b --batch-size 512 --steps 1 --find-micro     # the presets (issue 10)
"""

from __future__ import annotations

import argparse
import gc
import re
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from provenance import RESULTS, provenance
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from regmix.config.training import PAPER_PRESETS, ModelConfig
from regmix.files import write_json
from regmix.training.model import build_model
from regmix.training.stacked import StackedProxies

VOCAB = 50432
TINY = ModelConfig(n_layer=2, n_head=2, n_embd=32, intermediate_size=64, block_size=64)
TINY_VOCAB = 512
VARIANTS = (
    "fp32-eager",
    "bf16-eager",
    "bf16-compile",
    "stacked-eager",
    "stacked-compile",
    "liger-eager",
    "liger-compile",
)
# dense bf16 peak of the datasheets (no sparsity), TFLOP/s: H100 and H200 SXM 989.4, A100 312, B200 2250
DATASHEET_TFLOPS = {"h100": 989.4, "h200": 989.4, "a100": 312.0, "b200": 2250.0}
SDPA = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}
HPARAMS = dict(lr=4e-4, betas=(0.9, 0.95), weight_decay=0.1)
MAX_GRAD_NORM = 1.0


def flops_per_token(model: nn.Module, cfg: ModelConfig, seq_len: int) -> tuple[int, int]:
    """(FLOPs/token with full-square attention, FLOPs/token with the causal 1/2 factor)."""
    n_matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    attn_full = 12 * cfg.n_layer * seq_len * cfg.n_embd
    return 6 * n_matmul + attn_full, 6 * n_matmul + attn_full // 2


class Timer:
    """Wall time of a region, synchronising the device (CUDA events on GPU)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __enter__(self):
        if self.cuda:
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            self.seconds = self.start.elapsed_time(self.end) / 1e3
        else:
            self.seconds = time.perf_counter() - self.t0


def matmul_rate(device: torch.device, n: int, iters: int) -> float:
    """Median FLOP/s of n x n x n bf16 matrix products on random data."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(10):
        a @ b
    times = []
    for _ in range(iters):
        with Timer(device) as t:
            a @ b
        times.append(t.seconds)
    return 2 * n**3 / statistics.median(times)


def random_batch(shape: tuple[int, ...], vocab: int, device: torch.device):
    """(inputs, targets) of shape `shape` from random tokens."""
    tok = torch.randint(vocab, (*shape[:-1], shape[-1] + 1), device=device)
    return tok[..., :-1], tok[..., 1:]


def single_model_step(model, opt, loss_fn, n_micro, micro, seq_len, vocab, device):
    """One optimizer step of one model: accumulate, clip, AdamW."""
    for _ in range(n_micro):
        x, y = random_batch((micro, seq_len), vocab, device)
        (loss_fn(x, y) / n_micro).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
    opt.step()
    opt.zero_grad(set_to_none=True)


def make_step(variant: str, k: int, args, cfg: ModelConfig, vocab: int, device: torch.device):
    """A fresh model (or stack of k) and `step(n)`: one optimizer step over n micro-batches."""
    torch.manual_seed(0)
    torch._dynamo.reset()
    fused = device.type == "cuda"
    seq_len = cfg.block_size
    micro = max(1, args.micro_batch // k)
    amp = None if variant == "fp32-eager" else torch.bfloat16
    compiled = variant.endswith("compile")

    if variant.startswith("stacked"):
        stack = StackedProxies(
            [build_model(cfg, vocab).to(device) for _ in range(k)],
            **HPARAMS,
            max_grad_norm=MAX_GRAD_NORM,
            autocast_dtype=amp,
            compile=compiled,
            fused=fused,
        )

        def step(n):
            stack.step(random_batch((k, micro, seq_len), vocab, device) for _ in range(n))

        return step, micro

    liger = variant.startswith("liger")
    model = build_model(cfg, vocab, loss="liger" if liger else "plain").to(device)
    opt = torch.optim.AdamW(model.parameters(), **HPARAMS, fused=fused)

    def loss_fn(x, y):
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            return model(x, y) if liger else F.cross_entropy(model(x).flatten(0, 1), y.flatten())

    if compiled:
        loss_fn = torch.compile(loss_fn)

    def step(n):
        single_model_step(model, opt, loss_fn, n, micro, seq_len, vocab, device)

    return step, micro


def run_variant(variant: str, k: int, args, cfg: ModelConfig, vocab: int, device: torch.device) -> dict:
    """Train `args.warmup` + `args.steps` optimizer steps; time the last `args.steps`."""
    if args.sdpa != "auto" and not variant.startswith("stacked"):
        with sdpa_kernel([SDPA[args.sdpa]]):
            return {
                **run_variant(variant, k, argparse.Namespace(**{**vars(args), "sdpa": "auto"}), cfg, vocab, device),
                "variant": f"{variant}[{args.sdpa}]",
            }
    step, micro = make_step(variant, k, args, cfg, vocab, device)
    if args.batch_size % micro:
        raise ValueError(f"--batch-size {args.batch_size} is not a multiple of the micro-batch {micro}")
    n_micro = args.batch_size // micro
    with Timer(device) as warm:
        for _ in range(args.warmup):  # compiles; short accumulation is enough
            step(min(n_micro, 2))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with Timer(device) as t:
        for _ in range(args.steps):
            step(n_micro)
    tokens = args.steps * k * args.batch_size * cfg.block_size
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return dict(
        variant=variant,
        k=k,
        micro=micro,
        n_micro=n_micro,
        seconds=t.seconds,
        warmup_s=warm.seconds,
        tokens=tokens,
        tokens_per_s=tokens / t.seconds,
        peak_mem_gib=mem,
    )


def largest_micro_batch(variant: str, args, cfg: ModelConfig, vocab: int, device: torch.device) -> int | None:
    """The largest power-of-two micro-batch, up to --batch-size, whose forward + backward + step fits in memory."""
    best, micro = None, 1
    while micro <= args.batch_size:
        step = None
        try:
            step, _ = make_step(
                variant, 1, argparse.Namespace(**{**vars(args), "micro_batch": micro}), cfg, vocab, device
            )
            step(1)
            best = micro
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            del step
            gc.collect()
            torch.cuda.empty_cache()
        micro *= 2
    return best


def profile_variant(variant: str, k: int, args, cfg, vocab, device, path: Path) -> None:
    """Kernel-time table of one optimizer step of 4 micro-batches (after a warm-up step)."""
    from torch.profiler import ProfilerActivity, profile

    step, _ = make_step(variant, k, args, cfg, vocab, device)
    step(2)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        step(4)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    path.write_text(prof.key_averages().table(sort_by=sort, row_limit=40, max_name_column_width=90))


def gpu_slug(device_name: str) -> str:
    """`h100` for "NVIDIA H100 80GB HBM3": the model number, else the whole name."""
    m = re.search(r"\b[A-Z]+\d+[A-Za-z]*\b", device_name)
    return (m[0] if m else re.sub(r"[^A-Za-z0-9]+", "-", device_name).strip("-")).lower()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny model and sizes (CPU smoke test)")
    p.add_argument("--preset", default="regmix-1m", choices=sorted(PAPER_PRESETS))
    p.add_argument("--steps", type=int, default=2, help="timed optimizer steps per variant")
    p.add_argument("--warmup", type=int, default=1, help="untimed optimizer steps (2 micro-batches each)")
    p.add_argument("--batch-size", type=int, default=512, help="sequences per proxy per optimizer step")
    p.add_argument("--micro-batch", type=int, default=32, help="sequences per forward, all proxies together")
    p.add_argument("--stack", type=int, nargs="+", default=[1, 2, 4, 8, 16], help="K values for stacked-*")
    p.add_argument("--compile", action="store_true", help="also run the torch.compile variants")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS[:5]), choices=VARIANTS)
    p.add_argument("--find-micro", action="store_true", help="also find each variant's largest micro-batch (GPU)")
    p.add_argument("--datasheet-tflops", type=float, help="dense bf16 peak (default: DATASHEET_TFLOPS by GPU)")
    p.add_argument(
        "--sdpa",
        default="auto",
        choices=["auto", *SDPA],
        help="force one SDPA backend for the single-model variants (stacked: flash)",
    )
    p.add_argument(
        "--coordinate-descent-tuning",
        action="store_true",
        help="torch._inductor.config.coordinate_descent_tuning (slower compile)",
    )
    p.add_argument("--gemm-size", type=int, default=8192)
    p.add_argument("--gemm-iters", type=int, default=50)
    p.add_argument(
        "--profile",
        nargs=2,
        action="append",
        default=[],
        metavar=("VARIANT", "K"),
        help="write a kernel profile of this variant (repeatable)",
    )
    p.add_argument("--name", help="results go to benchmarks/results/gpu_proxy_throughput_NAME.json (default: the GPU)")
    p.add_argument("--out", type=Path, help="results file instead of benchmarks/results/gpu_proxy_throughput_NAME.json")
    p.add_argument("--profile-dir", type=Path, default=Path("."), help="folder for the --profile tables")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    if args.tiny:
        cfg, vocab = TINY, TINY_VOCAB
        if "--gemm-size" not in (argv or __import__("sys").argv):
            args.gemm_size, args.gemm_iters = 256, 5
    else:
        cfg, vocab = PAPER_PRESETS[args.preset], VOCAB
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32-eager is true fp32
    torch._inductor.config.coordinate_descent_tuning = args.coordinate_descent_tuning
    variants = [v for v in args.variants if args.compile or not v.endswith("compile")]

    peak = matmul_rate(device, args.gemm_size, args.gemm_iters)
    fpt, fpt_causal = flops_per_token(build_model(cfg, vocab), cfg, cfg.block_size)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    datasheet = args.datasheet_tflops or DATASHEET_TFLOPS.get(gpu_slug(name))
    head = (
        f"device: {name}; torch {torch.__version__}; preset: {'tiny' if args.tiny else args.preset}; "
        f"measured bf16 matmul ({args.gemm_size}^3, median of {args.gemm_iters}): {peak / 1e12:.1f} TFLOP/s; "
        f"sdpa {args.sdpa}; coordinate-descent tuning {args.coordinate_descent_tuning}; "
        f"batch {args.batch_size} x {cfg.block_size} tokens per proxy per step; FLOPs/token {fpt:,} "
        f"(causal-halved attention: {fpt_causal:,})"
    )
    print(head, flush=True)

    rows = []
    for v in variants:
        for k in args.stack if v.startswith("stacked") else [1]:
            try:
                r = run_variant(v, k, args, cfg, vocab, device)
            except Exception as e:  # keep the other rows (e.g. a compile failure)
                print(f"  {v} K={k} failed: {type(e).__name__}: {e}", flush=True)
                continue
            r.update(flops_per_token=fpt, tflops=fpt * r["tokens_per_s"] / 1e12)
            r.update(mfu=fpt * r["tokens_per_s"] / peak, mfu_causal=fpt_causal * r["tokens_per_s"] / peak)
            r["mfu_datasheet"] = fpt * r["tokens_per_s"] / (datasheet * 1e12) if datasheet else None
            if args.find_micro and device.type == "cuda" and k == 1:
                r["max_micro"] = largest_micro_batch(v, args, cfg, vocab, device)
            rows.append(r)
            print(
                f"  {v:16s} K={k:<3d} micro={r['micro']:<3d} {r['tokens_per_s']:>14,.0f} tok/s "
                f"MFU {100 * r['mfu']:5.1f}%  mem {r['peak_mem_gib']:.1f} GiB  "
                f"({r['seconds']:.1f} s timed, {r['warmup_s']:.1f} s warm-up)",
                flush=True,
            )

    lines = [
        head,
        "",
        "| variant | K | micro-batch / proxy | tokens/s (all proxies) | FLOPs/token | TFLOP/s | MFU % "
        "| peak mem GiB | MFU % (causal ½) | MFU % (datasheet) | largest micro-batch |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sheet = f"{100 * r['mfu_datasheet']:.1f}" if r["mfu_datasheet"] else "-"
        lines.append(
            f"| {r['variant']} | {r['k']} | {r['micro']} | {r['tokens_per_s']:,.0f} | "
            f"{r['flops_per_token'] / 1e6:.1f} M | {r['tflops']:.1f} | {100 * r['mfu']:.1f} | "
            f"{r['peak_mem_gib']:.1f} | {100 * r['mfu_causal']:.1f} | {sheet} | {r.get('max_micro') or '-'} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    suffix = "" if args.tiny or args.preset == "regmix-1m" else f"_{args.preset}"
    out = args.out or (RESULTS / f"gpu_proxy_throughput_{args.name or gpu_slug(name)}{suffix}.json")
    if args.out or args.name or (device.type == "cuda" and not args.tiny):
        write_json(
            out,
            {
                "benchmark": "gpu_proxy_throughput",
                **provenance(["torch", "litgpt", "lightning"]),
                "device": name,
                "torch": torch.__version__,
                "preset": "tiny" if args.tiny else args.preset,
                "peak_flops": peak,
                "datasheet_tflops": datasheet,
                "flops_per_token": fpt,
                "flops_per_token_causal": fpt_causal,
                "settings": {
                    k: v if isinstance(v, (int, float, str, bool, list, type(None))) else str(v)
                    for k, v in vars(args).items()
                },
                "rows": [{k: None if v != v else v for k, v in r.items()} for r in rows],  # NaN: null
            },
        )
        print(f"written to {out}")
    for v, k in args.profile:
        k = int(k)
        path = args.profile_dir / f"profile_{v}_K{k}.txt"
        profile_variant(v, k, args, cfg, vocab, device, path)
        print(f"profile written to {path}")


if __name__ == "__main__":
    main()
