"""Stage 2: train (or load) the tokenizer and pack every domain into token arrays; count tokens (the prior)."""

import argparse

from regmix.layout import scan_layout, validate_layout
from regmix.stage import run_stage
from regmix.tokenization.encode import tokenize_layout


def main(args, params):
    layout = scan_layout(args.domains)
    validate_layout(layout)
    counts = tokenize_layout(layout, args.out, params.tokenizer, params.domains.target)
    print("train tokens per domain:", counts["train"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domains", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
