"""Config of a training run (proxies and large models): model shape, optimisation, Fabric, the large runs."""

from __future__ import annotations

import math
from dataclasses import asdict, field
from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from ..errors import InputError
from .base import Fraction, RunName, Seed, Text, config_dataclass, fail

Precision = Literal["32-true", "bf16-mixed", "bf16-true", "16-mixed"]
Schedule = Literal["constant", "cosine"]
Loss = Literal["plain", "liger"]  # the training loss (regmix.training.loss)
Strategy = Literal["auto", "ddp", "ddp_spawn", "fsdp", "deepspeed"]


@config_dataclass
class ModelConfig:
    """The knobs of a LLaMA-style litgpt model; everything else is fixed to RegMix's shape (`training.model`)."""

    n_layer: PositiveInt = 2
    n_head: PositiveInt = 4
    n_embd: PositiveInt = 64
    intermediate_size: PositiveInt = 128
    block_size: Annotated[int, Field(ge=2)] = 128  # a training row is block_size + 1 tokens (inputs and targets)
    n_query_groups: PositiveInt | None = None  # None: one group per head (no grouped queries)
    # embedding rows; None: the tokenizer's size (the paper pads GPT-NeoX's to 50432)
    padded_vocab_size: PositiveInt | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.n_embd % self.n_head:
            fail(
                f"is not a multiple of n_head ({self.n_head})",
                "make n_embd a multiple of n_head (each head gets n_embd / n_head dimensions)",
                "n_embd",
                self.n_embd,
            )
        if self.n_query_groups is not None and self.n_head % self.n_query_groups:
            fail(
                f"does not divide n_head ({self.n_head})",
                "use a divisor of n_head, or null for one group per head",
                "n_query_groups",
                self.n_query_groups,
            )
        return self

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


@config_dataclass
class TrainConfig:
    """Optimisation and evaluation settings of one training run."""

    tokens: PositiveInt = 150_000  # training tokens; steps = tokens // (batch_size * block_size)
    batch_size: PositiveInt = 16  # the global batch, over all processes
    micro_batch_size: PositiveInt | None = None  # rows per forward pass on each process; None: no accumulation
    lr: PositiveFloat = 2e-3
    min_lr: NonNegativeFloat = 2e-4  # the cosine schedule's floor (unused when constant)
    schedule: Schedule = "constant"  # RegMix's proxies: constant after warmup; large model: cosine
    warmup_steps: NonNegativeInt = 10
    weight_decay: NonNegativeFloat = 0.1
    beta1: Fraction = 0.9
    beta2: Fraction = 0.95
    grad_clip: PositiveFloat = 1.0
    precision: Precision = "32-true"
    # the training loss: plain (lm_head, then F.cross_entropy) | liger (liger-kernel's fused linear cross-entropy,
    # on CUDA: the logits are never held whole; regmix.training.loss)
    loss: Loss = "plain"
    eval_every: NonNegativeInt = 0  # steps between evaluations; 0: only at the end
    eval_tokens: PositiveInt = 8192  # validation tokens per domain
    target_eval_tokens: PositiveInt | None = None  # the target's (the regression's label); None: eval_tokens
    log_every: PositiveInt = 5  # steps between recorded training losses
    checkpoint_every: NonNegativeInt = 0  # steps between resume checkpoints (large runs); 0: never
    seed: Seed = 0

    @model_validator(mode="after")
    def _check(self):
        if self.min_lr > self.lr:
            fail(f"is above lr ({self.lr})", "give 0 <= min_lr <= lr", "min_lr", self.min_lr)
        if self.micro_batch_size is not None and self.micro_batch_size > self.batch_size:
            fail(
                f"is above batch_size ({self.batch_size})",
                "use a divisor of batch_size per process, or null for no accumulation",
                "micro_batch_size",
                self.micro_batch_size,
            )
        return self

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

    def eval_budget(self, domain: str, target: str | None = None) -> int:
        """Validation tokens to evaluate on `domain`: `target_eval_tokens` for the target, else `eval_tokens`."""
        if domain == target and self.target_eval_tokens is not None:
            return self.target_eval_tokens
        return self.eval_tokens

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


@config_dataclass
class FabricConfig:
    """Where a run trains: Lightning Fabric's accelerator, devices per node, nodes and strategy
    (`training.loop.build_fabric`)."""

    accelerator: Literal["cpu", "cuda", "gpu", "mps", "auto"] = "cpu"
    devices: PositiveInt = 1  # processes (devices) per node
    num_nodes: PositiveInt = 1
    strategy: Strategy = "auto"

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    @model_validator(mode="after")
    def _check(self):
        if self.strategy == "fsdp" and self.accelerator == "cpu":
            fail(
                "needs GPUs (torch's FSDP has no CPU backend)",
                "set accelerator: cuda, or use strategy: ddp on CPUs",
                "strategy",
                self.strategy,
            )
        return self


def check_accumulation(train: TrainConfig, world_size: int) -> None:
    """Fail validation if the global batch does not split into equal micro-batches on `world_size` processes."""
    try:
        train.accumulation(world_size)
    except InputError as e:
        name = "micro_batch_size" if train.micro_batch_size else "batch_size"
        fail(f"does not split evenly: {e.problem}", e.fix, f"train.{name}", getattr(train, name))


# Large runs live in models/large/<name>/seed-<s>/ and the validation models in models/large/validation/<id>/.
RESERVED_RUN_NAMES = ("validation",)


@config_dataclass
class LargeParams:
    model: ModelConfig = field(default_factory=lambda: ModelConfig(n_layer=3, n_embd=128, intermediate_size=384))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(tokens=400_000, schedule="cosine"))
    runs: dict[RunName, Text] = field(default_factory=dict)  # name -> mixture YAML; one DVC stage per seed
    # every run is trained once per seed (initialisation and data order); the report averages over them
    seeds: Annotated[list[Seed], Field(min_length=1)] = field(default_factory=lambda: [0])
    threads: PositiveInt = 2  # torch threads per process
    fabric: FabricConfig = field(default_factory=FabricConfig)  # accelerator, devices, num_nodes, strategy

    @model_validator(mode="after")
    def _check(self):
        check_accumulation(self.train, self.fabric.world_size)
        if len(set(self.seeds)) != len(self.seeds):
            fail("repeats a seed", "list each seed once, e.g. [0, 1, 2]", "seeds", self.seeds)
        for name in self.runs:
            if name in RESERVED_RUN_NAMES:
                fail(
                    "is reserved for the validation models (models/large/validation/)",
                    "give the run another name",
                    f"runs.{name}",
                    self.runs[name],
                )
        return self


@config_dataclass
class ValidationParams:
    """The paper's transfer check: large models on held-out random mixtures of the proxies' sampler."""

    # one id per validation model, one DVC stage each (validate@<id>); append ids to train only the new ones
    runs: list[NonNegativeInt] = field(default_factory=list)

    @model_validator(mode="after")
    def _check(self):
        if len(set(self.runs)) != len(self.runs):
            fail("repeats an id", "list each id once, e.g. [0, 1, 2, 3]", "runs", self.runs)
        return self
