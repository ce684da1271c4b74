"""Stage 2: the tokenizer, its own stage (all tokens depend on it): a given tokenizer.json or a trained BPE."""

import argparse

from regmix.stage import run_stage
from regmix.tokenization.tokenizer import build_tokenizer


def main(args, params):
    tok = build_tokenizer(args.domains, params.tokenizer, args.out)
    print(f"tokenizer: {tok.get_vocab_size()} tokens, written to {args.out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domains", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
