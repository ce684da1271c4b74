"""Stage 8a: the mixture of one large run (`large.runs`), checked and filed under the run's name.

The per-seed training stages (`large@<run>-<seed>`, a DVC matrix) can only name their dependency by the
run's name, so each run's mixture file (RegMix's, a baseline, or any YAML) is copied to
`models/runs/<run>.yaml` here, checked against the data's domains and normalized: a changed mixture
retrains that run's seeds and no others.
"""

import argparse

from regmix.formats import read_mixture_yaml, write_mixture_yaml
from regmix.stage import run_stage
from regmix.token_store import TokenStore


def main(args, params):
    store = TokenStore(args.tokens)
    mixture = read_mixture_yaml(args.mixture, store.train_domains)
    write_mixture_yaml(args.out, mixture, params.domains.target, source=args.mixture)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mixture", required=True, help="the run's mixture YAML (large.runs.<run>)")
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
