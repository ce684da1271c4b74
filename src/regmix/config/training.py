"""Config of a training run (proxies and large models): model shape, optimisation, Fabric, the large runs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..errors import InputError

PRECISIONS = ("32-true", "bf16-mixed", "bf16-true", "16-mixed")
SCHEDULES = ("constant", "cosine")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "fsdp", "deepspeed")


@dataclass(frozen=True)
class ModelConfig:
    """The knobs of a LLaMA-style litgpt model; everything else is fixed to RegMix's shape (`training.model`)."""

    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    intermediate_size: int = 128
    block_size: int = 128
    n_query_groups: int | None = None  # None: one group per head (no grouped queries)
    padded_vocab_size: int | None = (
        None  # embedding rows; None: the tokenizer's size (the paper pads GPT-NeoX's to 50432)
    )

    def as_dict(self) -> dict:
        return asdict(self)


# Presets of the paper (arXiv 2407.01492, Table 6), checked against sail-sg/regmix's
# model_training/lit_gpt/config.py (tinyllama_1M, tinyllama_60M, tinyllama_1_1b): LLaMA MLP,
# RMSNorm (eps 1e-5), full rotary, no biases, block 2048, vocab 50432 (GPT-NeoX's tokenizer, padded);
# the 1.1B has 16 heads without grouped queries.
PAPER_VOCAB_SIZE = 50432
PAPER_PRESETS: dict[str, ModelConfig] = {
    "regmix-1m": ModelConfig(
        n_layer=2, n_head=8, n_embd=256, intermediate_size=512, block_size=2048, padded_vocab_size=PAPER_VOCAB_SIZE
    ),
    "regmix-60m": ModelConfig(
        n_layer=10, n_head=8, n_embd=768, intermediate_size=1536, block_size=2048, padded_vocab_size=PAPER_VOCAB_SIZE
    ),
    "regmix-1b": ModelConfig(
        n_layer=22, n_head=16, n_embd=2048, intermediate_size=5632, block_size=2048, padded_vocab_size=PAPER_VOCAB_SIZE
    ),
}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and evaluation settings of one training run."""

    tokens: int = 150_000  # training tokens; steps = tokens // (batch_size * block_size)
    batch_size: int = 16  # the global batch, over all processes
    micro_batch_size: int | None = None  # rows per forward pass on each process; None: no gradient accumulation
    lr: float = 2e-3
    min_lr: float = 2e-4  # the cosine schedule's floor (unused when constant)
    schedule: str = "constant"  # RegMix's proxies: constant after warmup; large model: cosine
    warmup_steps: int = 10
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    precision: str = "32-true"
    eval_every: int = 0  # steps between evaluations; 0: only at the end
    eval_tokens: int = 8192  # validation tokens per domain
    log_every: int = 5  # steps between recorded training losses
    checkpoint_every: int = 0  # steps between resume checkpoints (large runs); 0: never
    seed: int = 0

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise InputError("precision", f"value {self.precision!r} is not supported", f"use one of {PRECISIONS}")
        if self.schedule not in SCHEDULES:
            raise InputError("schedule", f"value {self.schedule!r} is not supported", f"use one of {SCHEDULES}")
        for name in ("tokens", "batch_size", "eval_tokens", "log_every"):
            if getattr(self, name) <= 0:
                raise InputError(name, f"value {getattr(self, name)!r} must be positive", "give a positive integer")
        for name in ("eval_every", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise InputError(
                    name, f"value {getattr(self, name)!r} is negative", "give 0 or a positive number of steps"
                )
        if self.micro_batch_size is not None and not 0 < self.micro_batch_size <= self.batch_size:
            raise InputError(
                "micro_batch_size",
                f"value {self.micro_batch_size!r} is not in 1..batch_size ({self.batch_size})",
                "use a divisor of batch_size per process, or null for no accumulation",
            )
        if not self.lr > 0:
            raise InputError("lr", f"value {self.lr!r} must be positive", "use e.g. 2e-3")

    def accumulation(self, world_size: int = 1) -> int:
        """Micro-steps per optimizer step on each of `world_size` processes."""
        per_rank = self.batch_size // world_size
        micro = self.micro_batch_size or per_rank
        if self.batch_size % world_size or per_rank % micro:
            raise InputError(
                "micro_batch_size",
                f"batch_size {self.batch_size} over {world_size} processes is {self.batch_size / world_size:g} "
                f"rows each, not a multiple of micro_batch_size {micro}",
                "make batch_size a multiple of devices x micro_batch_size",
            )
        return per_rank // micro

    def steps(self, block_size: int) -> int:
        return max(1, self.tokens // (self.batch_size * block_size))

    def lr_at(self, step: int, total: int) -> float:
        """Learning rate at 1-based `step` of `total`."""
        if step <= self.warmup_steps:
            return self.lr * step / self.warmup_steps
        if self.schedule == "constant":
            return self.lr
        progress = (step - self.warmup_steps) / max(1, total - self.warmup_steps)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class FabricConfig:
    """Where a run trains: Lightning Fabric's accelerator, devices per node, nodes and strategy "
    "(`training.loop.build_fabric`)."""

    accelerator: str = "cpu"  # cpu | cuda | gpu | mps | auto
    devices: int = 1  # processes (devices) per node
    num_nodes: int = 1
    strategy: str = "auto"  # auto | ddp | ddp_spawn | fsdp | deepspeed

    def __post_init__(self):
        if self.devices < 1 or self.num_nodes < 1:
            raise InputError(
                "devices", f"devices {self.devices}, num_nodes {self.num_nodes} must be >= 1", "use positive integers"
            )
        if self.strategy not in STRATEGIES:
            raise InputError("strategy", f"value {self.strategy!r} is not supported", f"use one of {STRATEGIES}")
        if self.strategy == "fsdp" and self.accelerator == "cpu":
            raise InputError(
                "strategy",
                "value 'fsdp' needs GPUs (torch's FSDP has no CPU backend)",
                "set accelerator: cuda, or use strategy: ddp on CPUs",
            )


@dataclass(frozen=True)
class LargeParams:
    model: ModelConfig = field(default_factory=lambda: ModelConfig(n_layer=3, n_embd=128, intermediate_size=384))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(tokens=600_000, schedule="cosine"))
    runs: dict[str, str] = field(default_factory=dict)  # name -> mixture YAML
    threads: int = 2  # torch threads per process
    fabric: FabricConfig = field(default_factory=FabricConfig)  # accelerator, devices, num_nodes, strategy
