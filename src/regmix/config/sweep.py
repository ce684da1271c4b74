"""Config of the proxy sweep: shards, workers, the Ray executor, and the proxies' model and training."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import InputError
from .training import ModelConfig, TrainConfig


@dataclass(frozen=True)
class RayConfig:
    address: str | None = None  # e.g. ray://head:10001 or auto; None: RAY_ADDRESS, else a local cluster
    num_cpus: float = 1.0  # CPUs reserved per proxy task
    num_gpus: float = 0.0  # GPU (fraction) per proxy task, e.g. 0.25: four proxies share a GPU; > 0 trains on cuda
    max_retries: int = 3  # retries of a failed task (exception or lost worker) before the proxy counts as failed
    local_cpus: int | None = None  # CPUs of a local cluster started here; None: all of the machine's

    def __post_init__(self):
        if self.num_cpus < 0 or self.num_gpus < 0 or self.max_retries < 0:
            raise InputError(
                "num_cpus",
                f"num_cpus {self.num_cpus}, num_gpus {self.num_gpus}, max_retries {self.max_retries} must be >= 0",
                "use non-negative numbers",
            )
        if self.num_gpus > 1 and self.num_gpus != int(self.num_gpus):
            raise InputError(
                "num_gpus",
                f"value {self.num_gpus} is a fraction above 1",
                "use a fraction of one GPU (e.g. 0.25) or a whole number",
            )

    def resolved_address(self) -> str | None:
        """The cluster to join: `address`, else `RAY_ADDRESS`; None starts a local cluster."""
        return self.address or os.environ.get("RAY_ADDRESS") or None


@dataclass(frozen=True)
class SweepParams:
    shards: list[int] = field(default_factory=lambda: [0, 1, 2])  # one DVC stage each; grow the list to grow the sweep
    shard_size: int = 16  # proxies per shard
    workers: int = 2  # parallel worker processes
    threads: int = 1  # torch threads per worker (on 2 cores, 2 x 1 beats 1 x 2)
    executor: str = "local"  # local (process pool of `workers`) | ray (Ray tasks on a cluster, settings in `ray`)
    ray: RayConfig = field(default_factory=RayConfig)

    def __post_init__(self):
        if self.executor not in ("local", "ray"):
            raise InputError("executor", f"value {self.executor!r} is not an executor", "use local or ray")
        if self.shard_size < 1 or self.workers < 1 or self.threads < 1:
            raise InputError(
                "shard_size",
                f"shard_size {self.shard_size}, workers {self.workers}, threads {self.threads} must be >= 1",
                "use positive integers",
            )
        if sorted(self.shards) != list(range(len(self.shards))):
            raise InputError(
                "shards",
                f"value {self.shards!r} is not 0, 1, ..., n-1",
                "list consecutive shard ids from 0, e.g. [0, 1, 2, 3]",
            )

    @property
    def n_proxies(self) -> int:
        return len(self.shards) * self.shard_size


@dataclass(frozen=True)
class ProxyParams:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if self.train.checkpoint_every:
            raise InputError(
                "train.checkpoint_every",
                f"value {self.train.checkpoint_every} is set, but proxies never save resume checkpoints",
                "remove it: a killed sweep resumes from its finished proxies; set it under large.train",
            )
