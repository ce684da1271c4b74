"""Stage 8: the baseline mixtures for the large-model comparison: token prior, uniform, w* if known,
and the named fixed mixtures of `baselines.mixtures` (e.g. the paper's human, pile_cc_only, doremi), normalized."""

import argparse
from pathlib import Path

from regmix.errors import InputError
from regmix.io import read_json
from regmix.mixtures import TRAIN_PREFIX, validate_mixture, write_mixture_yaml
from regmix.stage import run_stage
from regmix.tokens import TokenStore


def main(args, params):
    store = TokenStore(args.tokens)
    meta = read_json(args.domains_meta)
    out, target = Path(args.out), params.domains.target
    write_mixture_yaml(out / "prior.yaml", store.prior(), target)
    write_mixture_yaml(out / "uniform.yaml", {d: 1 / len(store.train_domains) for d in store.train_domains}, target)
    if meta.get("true_mixture"):
        write_mixture_yaml(out / "truth.yaml", meta["true_mixture"], target)
    for name, weights in params.baselines.mixtures.items():
        where = f"params.yaml, field baselines.mixtures.{name}"
        if name in ("prior", "uniform", "truth"):
            raise InputError(where, f"the name {name!r} is taken by a built-in baseline", "rename the mixture")
        named = {k.removeprefix(TRAIN_PREFIX): w for k, w in weights.items()}  # the paper's train_<domain> keys work too
        write_mixture_yaml(out / f"{name}.yaml", validate_mixture(named, store.train_domains, where), target)
    print("baselines:", sorted(p.stem for p in out.glob("*.yaml")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--domains-meta", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
