"""Train one litgpt model on a data mixture with Lightning Fabric, and evaluate it on every domain.

The loop, top to bottom: build the model under a fixed seed, AdamW, then per step: set the
learning rate (linear warmup, then constant as in RegMix's proxies, or cosine for large models),
draw a batch whose sequences come from the domains in proportion to the mixture, forward,
backward, clip, step; evaluate the validation loss of every domain at intervals and at the end.
A long run can save a resume checkpoint at intervals and continue from it after a kill, exactly
as if never stopped (`save_resume`, `load_resume`).
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from lightning.fabric import Fabric

from ..config.training import FabricConfig, ModelConfig, TrainConfig
from ..errors import InputError
from ..files import atomic_path
from ..token_store import TokenStore
from .loss import check_loss, next_token_loss
from .model import build_model


def fabric_strategy(cfg: FabricConfig):
    """Fabric's strategy for `cfg`: its name, or for FSDP a strategy object.

    FSDP shards each litgpt `Block` and saves full (gathered) state dicts, so a checkpoint stays one
    `lit_model.pth` in litgpt's format.
    """
    if cfg.strategy != "fsdp":
        return cfg.strategy
    from lightning.fabric.strategies import FSDPStrategy
    from litgpt.model import Block

    return FSDPStrategy(auto_wrap_policy={Block}, state_dict_type="full", sharding_strategy="FULL_SHARD")


def build_fabric(cfg: FabricConfig, precision: str = "32-true") -> Fabric:
    """The Fabric of `cfg`, not yet launched: `fabric.launch(fn)` starts this node's other processes."""
    return Fabric(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=fabric_strategy(cfg),
        precision=precision,
    )


@dataclass
class TrainResult:
    """What a run produced: loss curves and the final per-domain validation losses."""

    train_loss: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    val_loss: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # (step, {domain: loss})
    tokens_seen: int = 0
    seconds: float = 0.0

    @property
    def final(self) -> dict[str, float]:
        return self.val_loss[-1][1]

    def as_dict(self) -> dict:
        return asdict(self)


class MixtureBatches:
    """Batches of `block_size + 1` token windows; each window's domain is drawn from the mixture.

    Every process draws the same global batch and keeps its own slice of rows, so training on
    N processes sees exactly the data of one process with the same global batch.
    """

    def __init__(
        self,
        store: TokenStore,
        mixture: dict[str, float],
        block_size: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.domains = [d for d, w in mixture.items() if w > 0]
        p = np.array([mixture[d] for d in self.domains], dtype=float)
        self.p = p / p.sum()
        self.arrays = [store.array("train", d) for d in self.domains]
        for d, a in zip(self.domains, self.arrays, strict=True):
            if len(a) <= block_size + 1:
                raise InputError(
                    f"tokens of domain {d!r}",
                    f"{len(a)} tokens, fewer than one block of {block_size + 1}",
                    "add data or lower block_size",
                )
        if batch_size % world_size:
            raise InputError(
                "batch_size",
                f"value {batch_size} is not divisible by the {world_size} processes",
                "use a multiple of the device count",
            )
        self.block_size, self.batch_size = block_size, batch_size
        per_rank = batch_size // world_size
        self.rows = slice(rank * per_rank, (rank + 1) * per_rank)
        self.rng = np.random.default_rng(seed)

    def __next__(self) -> torch.Tensor:
        which = self.rng.choice(len(self.domains), size=self.batch_size, p=self.p)
        starts = [self.rng.integers(0, len(self.arrays[i]) - self.block_size - 1) for i in which]
        rows = [
            np.asarray(self.arrays[i][s : s + self.block_size + 1], dtype=np.int64)
            for i, s in zip(which, starts, strict=True)
        ]
        return torch.from_numpy(np.stack(rows[self.rows]))

    # Fabric saves and restores objects with these two methods: the position in the data stream
    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


def eval_windows(store: TokenStore, domain: str, block_size: int, max_tokens: int) -> torch.Tensor:
    """About `max_tokens` of a domain's validation tokens: `block_size + 1` windows spread evenly over the split.

    The split is cut into non-overlapping windows and every k-th is kept, so a budget smaller than the split
    still reads documents from all of it, not only its first few.
    """
    a = store.array("valid", domain)
    slots = (len(a) - 1) // block_size
    n = min(max(1, max_tokens // block_size), slots)
    if n < 1:
        raise InputError(
            f"validation tokens of domain {domain!r}",
            f"{len(a)} tokens, fewer than one block of {block_size + 1}",
            "add validation data or lower block_size",
        )
    starts = (np.arange(n) * slots // n) * block_size  # read window by window: a split may be far larger
    return torch.from_numpy(np.stack([np.asarray(a[s : s + block_size + 1], dtype=np.int64) for s in starts]))


@torch.no_grad()
def evaluate(model, windows: dict[str, torch.Tensor], batch_size: int, device) -> dict[str, float]:
    """Mean next-token cross-entropy (nats) on each domain's windows."""
    model.eval()
    out = {}
    for domain, w in windows.items():
        total, count = 0.0, 0
        for i in range(0, len(w), batch_size):
            b = w[i : i + batch_size].to(device)
            logits = model(b[:, :-1])
            total += F.cross_entropy(logits.flatten(0, 1).float(), b[:, 1:].flatten(), reduction="sum").item()
            count += b[:, 1:].numel()
        out[domain] = total / count
    model.train()
    return out


def save_resume(fabric: Fabric, path: str | Path, step: int, model, optimizer, batches, result: TrainResult) -> None:
    """Save everything the rest of the run depends on after `step`: weights, optimizer, data stream, curves and
    torch's RNG (the CPU one: after initialisation, nothing in the loop draws from a GPU's).

    Call it on every process (FSDP gathers the full state); global rank 0 writes `path` atomically,
    so a kill during the save leaves the previous checkpoint whole.
    """
    state = {
        "model": model,
        "optimizer": optimizer,
        "batches": batches,
        "result": result.as_dict(),
        "step": step,
        "torch_rng": torch.get_rng_state(),
    }
    if fabric.global_rank != 0:
        fabric.save(path, state)
        return
    with atomic_path(path) as tmp:
        fabric.save(tmp, state)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())  # on disk before it replaces the previous checkpoint


def load_resume(fabric: Fabric, path: str | Path, model, optimizer, batches) -> tuple[int, TrainResult]:
    """Restore a `save_resume` checkpoint into the given objects; return its step and curves (0 and none without one).

    Call it on every process; each reads `path` (on several nodes, a shared file system).
    """
    if not fabric.broadcast(Path(path).is_file()):  # rank 0 decides: every process must load, or none
        return 0, TrainResult()
    state = {"model": model, "optimizer": optimizer, "batches": batches, "result": {}, "step": 0, "torch_rng": None}
    try:
        fabric.load(path, state)
    except (RuntimeError, KeyError, EOFError, pickle.UnpicklingError) as e:
        raise InputError(
            str(path), f"resume checkpoint cannot be loaded ({e})", "delete it to train from step 0"
        ) from e
    torch.set_rng_state(state["torch_rng"])
    return state["step"], TrainResult(**state["result"])


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    mixture: dict[str, float],
    store: TokenStore,
    eval_domains: list[str],
    fabric: Fabric | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_eval: Callable[[TrainResult], None] | None = None,
    resume: str | Path | None = None,
    target: str | None = None,
) -> tuple[torch.nn.Module, TrainResult]:
    """Train a model on `mixture`; return it (Fabric-wrapped) and its loss curves.

    `fabric` (launched) sets the accelerator, devices and strategy; default: one CPU process.
    With `cfg.micro_batch_size`, each process's rows of the global batch are split into micro-batches
    whose gradients accumulate (synchronised across processes only on the last) before one step.
    `on_eval(result)` runs after each evaluation (live tracking). With `resume` (a file), the run
    continues from the checkpoint there if there is one, and saves one every `cfg.checkpoint_every` steps.
    `target` (a domain) is evaluated on `cfg.target_eval_tokens`.
    """
    fabric = fabric or Fabric(accelerator="cpu", devices=1, precision=cfg.precision)
    check_loss(cfg.loss, fabric.device.type, "train.loss")
    accumulation = cfg.accumulation(fabric.world_size)
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    with fabric.init_module():
        model = build_model(model_cfg, store.vocab_size, loss=cfg.loss)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
    )
    model, optimizer = fabric.setup(model, optimizer)

    T = model_cfg.block_size
    batches = MixtureBatches(store, mixture, T, cfg.batch_size, cfg.seed, fabric.global_rank, fabric.world_size)
    windows = {d: eval_windows(store, d, T, cfg.eval_budget(d, target)) for d in eval_domains}
    steps = cfg.steps(T)
    # a resumed run continues exactly where its last checkpoint left off
    done, result = load_resume(fabric, resume, model, optimizer, batches) if resume else (0, TrainResult())
    start -= result.seconds  # the time spent before that checkpoint
    for step in range(done + 1, steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr_at(step, steps)
        batch = next(batches).to(fabric.device)
        if accumulation == 1:
            loss = next_token_loss(model, batch, cfg.loss)
            fabric.backward(loss)
        else:
            loss = torch.zeros((), device=fabric.device)
            for i, micro in enumerate(batch.chunk(accumulation)):
                with fabric.no_backward_sync(model, enabled=i < accumulation - 1):
                    micro_loss = next_token_loss(model, micro, cfg.loss) / accumulation
                    fabric.backward(micro_loss)
                loss += micro_loss.detach()
        fabric.clip_gradients(model, optimizer, max_norm=cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % cfg.log_every == 0 or step == steps:
            result.train_loss.append((step, fabric.all_reduce(loss.detach(), reduce_op="mean").item()))
        if (cfg.eval_every and step % cfg.eval_every == 0) or step == steps:
            result.val_loss.append((step, evaluate(model, windows, cfg.batch_size, fabric.device)))
            if on_eval:
                on_eval(result)
        if resume and cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < steps:
            result.seconds = time.perf_counter() - start
            save_resume(fabric, resume, step, model, optimizer, batches, result)
        if on_step:
            on_step(step, steps)
    result.tokens_seen = steps * cfg.batch_size * T
    result.seconds = time.perf_counter() - start
    return model, result
