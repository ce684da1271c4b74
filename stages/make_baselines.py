"""Stage 8: the baseline mixtures for the large-model comparison: token prior, uniform, w* if known,
and the named fixed mixtures of `baselines.mixtures` (e.g. the paper's human, pile_cc_only, doremi), normalized."""

import argparse

from regmix.files import read_json
from regmix.mixtures.baselines import write_baselines
from regmix.stage import run_stage
from regmix.token_store import TokenStore


def main(args, params):
    truth = read_json(args.domains_meta).get("true_mixture")
    names = write_baselines(
        args.out, TokenStore(args.tokens).prior(), truth, params.baselines.mixtures, params.domains.target
    )
    print("baselines:", names)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--domains-meta", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
