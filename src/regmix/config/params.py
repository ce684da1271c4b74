"""`params.yaml` as typed dataclasses, checked on load: a wrong field, type or value is a clear error."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..files import read_yaml
from .data import DomainsParams, TokenizeParams, TokenizerConfig
from .mixtures import BaselinesParams, MixtureConfig
from .regression import RegressionConfig
from .simulation import SimulationConfig
from .sweep import ProxyParams, SweepParams
from .training import LargeParams


@dataclass(frozen=True)
class MlflowParams:
    tracking_uri: str = "sqlite:///mlflow.db"  # relative paths are taken from the project root
    experiment: str = "regmix"


@dataclass(frozen=True)
class Params:
    seed: int = 0
    domains: DomainsParams = field(default_factory=DomainsParams)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    tokenize: TokenizeParams = field(default_factory=TokenizeParams)
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
        raise InputError(
            f"{file}, field {where}", f"value {value!r} is not of type {_type_name(tp)}", f"give a {_type_name(tp)}"
        )
    return float(value) if tp is float else value


def build(cls, data, where: str = "", file: str = "params.yaml"):
    """Instantiate dataclass `cls` from a nested dict, checking names, types and values."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(
            f"{file}, field {where or '(top level)'}", f"value {data!r} is not a mapping", "write key: value pairs"
        )
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in names:
            raise InputError(
                f"{file}, field {prefix}{key}",
                f"unknown field (value {data[key]!r})",
                f"use one of: {', '.join(names)}",
            )
    kwargs = {k: _coerce(hints[k], v, f"{prefix}{k}", file) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except InputError as e:
        if e.where.startswith(file):
            raise
        raise InputError(
            f"{file}, field {prefix}{e.where.removeprefix('params.yaml, field ')}", e.problem, e.fix
        ) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check `params.yaml`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file not found", "run from the project root, where params.yaml is")
    return build(Params, read_yaml(path), "", str(path))
