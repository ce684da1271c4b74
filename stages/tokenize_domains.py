"""Stage 4: merge the domains' token chunks into data/tokens, with the token counts, the prior and a content hash."""

import argparse

from regmix.layout import read_index
from regmix.stage import run_stage
from regmix.tokenization.merge import merge_tokens


def main(args, params):
    counts = merge_tokens(
        args.encoded,
        read_index(args.domains),
        params.tokenize.domains,
        args.tokenizer,
        args.out,
        params.domains.target,
        params.tokenizer.eos_token,
    )
    print("train tokens per domain:", counts["train"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domains", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--encoded", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
