"""Stage 8: the baseline mixtures for the large-model comparison: token prior ("human"), uniform, and w* if known."""

import argparse
from pathlib import Path

from regmix.io import read_json
from regmix.mixtures import write_mixture_yaml
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
    print("baselines:", sorted(p.stem for p in out.glob("*.yaml")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--domains-meta", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
