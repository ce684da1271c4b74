"""`params.yaml` as typed, frozen pydantic dataclasses, checked on load: a wrong field, type, value or relation
between values is one `InputError` naming the file, the dotted field, the value and a fix."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import types
import typing
from dataclasses import field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError, model_validator

from ..errors import InputError
from ..files import read_yaml
from .base import Seed, Text, config_dataclass, fail
from .data import DomainsParams, TokenizeParams, TokenizerConfig
from .evaluation import EvaluateParams
from .mixtures import BUILT_IN_BASELINES, BaselinesParams, MixtureConfig
from .regression import RegressionConfig
from .simulation import SimulationConfig
from .sweep import ProxyParams, SweepParams
from .training import LargeParams, ValidationParams


@config_dataclass
class MlflowParams:
    tracking_uri: Text = "sqlite:///mlflow.db"  # relative paths are taken from the project root
    experiment: Text = "regmix"


@config_dataclass
class Params:
    seed: Seed = 0
    domains: DomainsParams = field(default_factory=DomainsParams)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    tokenize: TokenizeParams = field(default_factory=TokenizeParams)
    mixtures: MixtureConfig = field(default_factory=MixtureConfig)
    sweep: SweepParams = field(default_factory=SweepParams)
    proxy: ProxyParams = field(default_factory=ProxyParams)
    regression: RegressionConfig = field(default_factory=RegressionConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    large: LargeParams = field(default_factory=LargeParams)
    validation: ValidationParams = field(default_factory=ValidationParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    baselines: BaselinesParams = field(default_factory=BaselinesParams)
    mlflow: MlflowParams = field(default_factory=MlflowParams)

    @model_validator(mode="after")
    def _check(self):
        """Relations between sections."""
        if self.regression.folds > self.sweep.n_proxies:
            fail(
                f"is above the number of proxies ({self.sweep.n_proxies} = shards x shard_size)",
                "lower regression.folds or grow the sweep",
                "regression.folds",
                self.regression.folds,
            )
        baselines = set(BUILT_IN_BASELINES) | set(self.baselines.mixtures)
        if self.domains.source != "synthetic":
            baselines.discard("truth")  # w* is known only for the synthetic corpus
        for name, path in self.large.runs.items():
            m = re.fullmatch(r"(?:\./)?models/baselines/([^/]+)\.yaml", path)
            if m and m[1] not in baselines:
                fail(
                    f"is not a baseline the baselines stage writes ({', '.join(sorted(baselines))})",
                    "add it to baselines.mixtures, or drop the run (w*, `truth`, is known only for synthetic data)",
                    f"large.runs.{name}",
                    path,
                )
        if self.domains.source == "synthetic":  # the training domains are known before any data is made
            known = list(self.domains.synthetic.domains)
            named = {"mixtures.prior": self.mixtures.prior or {}}
            named |= {f"baselines.mixtures.{k}": v for k, v in self.baselines.mixtures.items()}
            for where, weights in named.items():
                for domain, w in weights.items():
                    if domain.removeprefix("train_") not in known:
                        fail(
                            f"is the weight of {domain!r}, which is not a training domain",
                            f"use some of {', '.join(known)}",
                            f"{where}.{domain}",
                            w,
                        )
        return self


def field_type(cls, path: list[str]):
    """The annotated type at a dotted path below config class `cls` (Optional unwrapped; a key of a mapping
    gives its value type), or None if there is no such field."""
    tp = cls
    for key in path:
        if typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif dataclasses.is_dataclass(tp) and key in (hints := typing.get_type_hints(tp)):
            tp = hints[key]
        else:
            return None
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


# How to fix the errors pydantic reports itself (checks of our own carry their fix).
_FIXES = {
    "float_parsing": "give a number, e.g. 0.5 or 2e-4",
    "float_type": "give a number, e.g. 0.5 or 2e-4",
    "finite_number": "give a finite number",
    "int_parsing": "give a whole number, e.g. 16",
    "int_type": "give a whole number, e.g. 16",
    "int_from_float": "give a whole number, e.g. 16",
    "bool_parsing": "give true or false",
    "bool_type": "give true or false",
    "string_type": "give a text value (quote it in YAML)",
    "string_too_short": "give a non-empty value",
    "literal_error": "use one of {expected}",
    "greater_than": "give a value > {gt:g}",
    "greater_than_equal": "give a value >= {ge:g}",
    "less_than": "give a value < {lt:g}",
    "less_than_equal": "give a value <= {le:g}",
    "too_short": "give more entries (at least {min_length})",
    "dict_type": "write key: value pairs",
    "dataclass_type": "write key: value pairs",
    "list_type": "write a list, e.g. [0, 1, 2]",
    "tuple_type": "write a list, e.g. [40, 160]",
}


def _dotted(parts: list) -> str:
    """`proxy.train.lr`, `sweep.shards[1]`."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts if p != "").lstrip(".")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def input_error(error: ValidationError, cls, where: str = "", file: str = "params.yaml") -> InputError:
    """The first problem of a failed validation of `cls` (at dotted `where` in `file`) as one InputError."""
    errors = error.errors()
    e, ctx = errors[0], errors[0].get("ctx") or {}
    loc = [*e["loc"], *([ctx["field"]] if "field" in ctx else [])]  # below `cls`
    if loc and loc[-1] == "[key]":  # a bad name (e.g. of a run): the key itself is the value
        loc = loc[:-1]
        place = f"field {_dotted([where, *loc[:-1]])}, name {loc[-1]!r}"
    else:
        place = f"field {_dotted([where, *loc]) or '(top level)'}"
    value = ctx.get("value", e["input"])
    if e["type"] == "unexpected_keyword_argument":
        names = [f.name for f in dataclasses.fields(field_type(cls, loc[:-1]))]
        close = difflib.get_close_matches(loc[-1], names, n=1)
        problem = f"unknown field (value {_short(value)})"
        fix = (f"did you mean {close[0]!r}? " if close else "") + f"use one of: {', '.join(names)}"
    elif e["type"] == "missing":
        problem, fix = "is missing", "add it"
    else:
        reason = ctx.get("problem") or re.sub(r"^\w+ (should)", r"\1", e["msg"])  # "Input should be" -> "should be"
        problem = f"value {_short(value)} {reason}"
        fix = ctx.get("fix") or _FIXES.get(e["type"], "see the comments in params.yaml").format(**ctx)
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return InputError(f"{file}, {place}", problem, fix)


@functools.cache
def _adapter(cls) -> TypeAdapter:
    return TypeAdapter(cls)


def build(cls, data, where: str = "", file: str = "params.yaml"):
    """Config class `cls` from a nested dict (None: all defaults), checked; `where` is its dotted place in `file`."""
    try:
        return _adapter(cls).validate_python({} if data is None else data)
    except ValidationError as e:
        raise input_error(e, cls, where, file) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check `params.yaml`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file not found", "run from the project root, where params.yaml is")
    return build(Params, read_yaml(path), "", str(path))
