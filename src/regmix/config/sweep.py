"""Config of the proxy sweep: shards, workers, the Ray executor, and the proxies' model and training."""

from __future__ import annotations

import os
from dataclasses import field
from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt, model_validator

from .base import config_dataclass, fail
from .training import ModelConfig, TrainConfig, check_accumulation


@config_dataclass
class RayConfig:
    address: str | None = None  # e.g. ray://head:10001 or auto; None: RAY_ADDRESS, else a local cluster
    num_cpus: NonNegativeFloat = 1.0  # CPUs reserved per proxy task
    num_gpus: NonNegativeFloat = 0.0  # GPU (fraction) per proxy task, e.g. 0.25: four proxies share a GPU; > 0: cuda
    max_retries: NonNegativeInt = 3  # retries of a failed task (exception or lost worker) before the proxy fails
    local_cpus: PositiveInt | None = None  # CPUs of a local cluster started here; None: all of the machine's

    @model_validator(mode="after")
    def _check(self):
        if self.num_gpus > 1 and self.num_gpus != int(self.num_gpus):
            fail(
                "is a fraction above 1",
                "use a fraction of one GPU (e.g. 0.25) or a whole number",
                "num_gpus",
                self.num_gpus,
            )
        return self

    def resolved_address(self) -> str | None:
        """The cluster to join: `address`, else `RAY_ADDRESS`; None starts a local cluster."""
        return self.address or os.environ.get("RAY_ADDRESS") or None


@config_dataclass
class SweepParams:
    # one DVC stage each; grow the list to grow the sweep
    shards: Annotated[list[NonNegativeInt], Field(min_length=1)] = field(default_factory=lambda: [0, 1, 2])
    shard_size: PositiveInt = 16  # proxies per shard
    workers: PositiveInt = 2  # parallel worker processes
    threads: PositiveInt = 1  # torch threads per worker (on 2 cores, 2 x 1 beats 1 x 2)
    executor: Literal["local", "ray"] = "local"  # local: process pool of `workers`; ray: Ray tasks, see `ray`
    ray: RayConfig = field(default_factory=RayConfig)

    @model_validator(mode="after")
    def _check(self):
        if sorted(self.shards) != list(range(len(self.shards))):
            fail(
                "is not 0, 1, ..., n-1",
                "list consecutive shard ids from 0, e.g. [0, 1, 2, 3]",
                "shards",
                self.shards,
            )
        return self

    @property
    def n_proxies(self) -> int:
        return len(self.shards) * self.shard_size


@config_dataclass
class ProxyParams:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _check(self):
        check_accumulation(self.train, 1)  # a proxy trains in one process
        if self.train.checkpoint_every:
            fail(
                "is set, but proxies never save resume checkpoints",
                "remove it: a killed sweep resumes from its finished proxies; set it under large.train",
                "train.checkpoint_every",
                self.train.checkpoint_every,
            )
        return self
