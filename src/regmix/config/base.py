"""What every config class shares: a frozen pydantic dataclass that rejects unknown fields and non-finite
numbers, the field types used across params.yaml, and `fail` for checks pydantic's constraints cannot express.

Lax mode is kept on purpose: PyYAML reads `lr: 2e-4` as the string '2e-4', which must count as a number.
`regmix.config.params.build` turns a failed validation into one `InputError` line.
"""

from __future__ import annotations

import re
from typing import Annotated, NoReturn

from pydantic import AfterValidator, ConfigDict, Field, NonNegativeFloat, NonNegativeInt
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

# Frozen (stages and caches treat configs as values), unknown keys are errors (a typo is not silently
# ignored), and NaN or infinity is never a valid setting.
config_dataclass = dataclass(frozen=True, config=ConfigDict(extra="forbid", allow_inf_nan=False))


def fail(problem: str, fix: str, field: str | None = None, value=None) -> NoReturn:
    """Reject a value. Inside a field validator the field is the one being validated; a class-level check of
    a relation between fields names the `field` (and its `value`) the message should point at."""
    if field is None:
        raise PydanticCustomError("regmix", "{problem}", {"problem": problem, "fix": fix})
    # the field is in the message too, for a config constructed in code (pydantic's own error text)
    ctx = {"problem": problem, "fix": fix, "field": field, "value": value}
    raise PydanticCustomError("regmix", "{field}: value {value} {problem}", ctx)


def matching(pattern: str, allowed: str) -> AfterValidator:
    """A string check for `Annotated[str, ...]`: the whole value matches `pattern` (`allowed` says it in words)."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            fail("is not a usable name", f"use {allowed} only")
        return value

    return AfterValidator(check)


# A domain name: what the paper's layout accepts before `-<k>.jsonl` (regmix.layout), so it is a file name
# and a CSV column suffix (`train_<domain>`, `metric/<domain>_val_loss`).
DomainName = Annotated[str, matching(r"[A-Za-z0-9_.]+", "letters, digits, _ and .")]
# A run or baseline name: a DVC stage name (`large@<name>`) and a file or folder name.
RunName = Annotated[str, matching(r"[A-Za-z0-9_-]+", "letters, digits, _ and -")]
Text = Annotated[str, Field(min_length=1)]
Seed = NonNegativeInt  # numpy's SeedSequence takes no negative seeds
Fraction = Annotated[float, Field(ge=0, lt=1)]  # in [0, 1)


def _some_positive(weights: dict[str, float]) -> dict[str, float]:
    if not sum(weights.values()) > 0:
        fail("has no positive weight", "give at least one domain a weight > 0")
    return weights


# A mixture {domain: weight >= 0}, not all zero; its domains are checked against the data by the stages.
Weights = Annotated[dict[str, NonNegativeFloat], AfterValidator(_some_positive)]
