"""`params.yaml` as typed dataclasses, checked on load: a wrong field, type or value is a clear error."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .domains import HFSource
from .errors import InputError
from .io import read_yaml
from .mixtures import MixtureConfig
from .ray_executor import RayConfig
from .model import ModelConfig
from .regression import RegressionConfig
from .simulation import SimulationConfig
from .synthetic import SyntheticConfig
from .tokens import TokenizerConfig
from .train import FabricConfig, TrainConfig

SOURCES = ("synthetic", "local", "hf")


@dataclass(frozen=True)
class DomainsParams:
    source: str = "synthetic"  # synthetic | local (a directory in the paper's layout) | hf
    path: str | None = None  # the local directory
    target: str = "target"  # the domain whose validation loss RegMix minimises
    prefix: str = ""  # prepended to local/hf domain names, e.g. "the_pile_" for the paper's column names
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    hf: HFSource = field(default_factory=HFSource)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise InputError("source", f"value {self.source!r} is not a known source", f"use one of {SOURCES}")
        if self.source == "local" and not self.path:
            raise InputError("path", "is empty but source is 'local'", "set domains.path to a directory with train/ and valid/")


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
            raise InputError("shard_size", f"shard_size {self.shard_size}, workers {self.workers}, threads {self.threads} must be >= 1", "use positive integers")
        if sorted(self.shards) != list(range(len(self.shards))):
            raise InputError("shards", f"value {self.shards!r} is not 0, 1, ..., n-1", "list consecutive shard ids from 0, e.g. [0, 1, 2, 3]")

    @property
    def n_proxies(self) -> int:
        return len(self.shards) * self.shard_size


@dataclass(frozen=True)
class ProxyParams:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class LargeParams:
    model: ModelConfig = field(default_factory=lambda: ModelConfig(n_layer=3, n_embd=128, intermediate_size=384))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(tokens=600_000, schedule="cosine"))
    runs: dict[str, str] = field(default_factory=dict)  # name -> mixture YAML
    threads: int = 2  # torch threads per process
    fabric: FabricConfig = field(default_factory=FabricConfig)  # accelerator, devices, num_nodes, strategy


@dataclass(frozen=True)
class BaselinesParams:
    mixtures: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> {domain: weight}, normalized by the baselines stage


@dataclass(frozen=True)
class MlflowParams:
    tracking_uri: str = "sqlite:///mlflow.db"  # relative paths are taken from the project root
    experiment: str = "regmix"


@dataclass(frozen=True)
class Params:
    seed: int = 0
    domains: DomainsParams = field(default_factory=DomainsParams)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    mixtures: MixtureConfig = field(default_factory=MixtureConfig)
    sweep: SweepParams = field(default_factory=SweepParams)
    proxy: ProxyParams = field(default_factory=ProxyParams)
    regression: RegressionConfig = field(default_factory=RegressionConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    large: LargeParams = field(default_factory=LargeParams)
    baselines: BaselinesParams = field(default_factory=BaselinesParams)
    mlflow: MlflowParams = field(default_factory=MlflowParams)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp, value, where: str, file: str):
    """`value` as type `tp`, or an InputError naming the field and value."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, where, file)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where, file)
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"{file}, field {where}", f"value {value!r} is not a mapping", "write key: value pairs")
        return {str(k): _coerce(args[1], v, f"{where}.{k}", file) for k, v in value.items()}
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{file}, field {where}", f"value {value!r} is not a list", "write a list, e.g. [1, 2]")
        items = [_coerce(args[0], v, f"{where}[{i}]", file) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        bool: isinstance(value, bool),
        str: isinstance(value, str),
    }.get(tp, True)
    if not ok:
        raise InputError(f"{file}, field {where}", f"value {value!r} is not of type {_type_name(tp)}", f"give a {_type_name(tp)}")
    return float(value) if tp is float else value


def build(cls, data, where: str = "", file: str = "params.yaml"):
    """Instantiate dataclass `cls` from a nested dict, checking names, types and values."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{file}, field {where or '(top level)'}", f"value {data!r} is not a mapping", "write key: value pairs")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in names:
            raise InputError(f"{file}, field {prefix}{key}", f"unknown field (value {data[key]!r})", f"use one of: {', '.join(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{prefix}{k}", file) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except InputError as e:
        if e.where.startswith(file):
            raise
        raise InputError(f"{file}, field {prefix}{e.where.removeprefix('params.yaml, field ')}", e.problem, e.fix) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check `params.yaml`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file not found", "run from the project root, where params.yaml is")
    return build(Params, read_yaml(path), "", str(path))
