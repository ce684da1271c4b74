"""The baseline mixtures the large models are compared on: token prior ("human"), uniform, w* when
known, and named fixed mixtures (e.g. the paper's human, pile_cc_only, doremi), normalized."""

from __future__ import annotations

from pathlib import Path

from ..config.mixtures import BUILT_IN_BASELINES
from ..errors import InputError
from ..formats import domain_of, validate_mixture, write_mixture_yaml


def write_baselines(
    out: str | Path,
    prior: dict[str, float],
    true_mixture: dict[str, float] | None,
    named: dict[str, dict[str, float]],
    target: str | None,
) -> list[str]:
    """Write `<out>/<name>.yaml` for every baseline; return their names."""
    out, domains = Path(out), list(prior)
    mixtures = {"prior": prior, "uniform": {d: 1 / len(domains) for d in domains}}
    if true_mixture:
        mixtures["truth"] = true_mixture
    for name, weights in named.items():
        where = f"params.yaml, field baselines.mixtures.{name}"
        if name in BUILT_IN_BASELINES:
            raise InputError(where, f"the name {name!r} is taken by a built-in baseline", "rename the mixture")
        mixtures[name] = validate_mixture(
            {domain_of(k): w for k, w in weights.items()}, domains, where
        )  # train_<domain> keys work too
    for name, mixture in mixtures.items():
        write_mixture_yaml(out / f"{name}.yaml", mixture, target)
    return sorted(mixtures)
