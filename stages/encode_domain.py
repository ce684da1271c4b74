"""Stage 3, one per domain: encode the domain's files into token chunks, in parallel, resuming from the chunk cache."""

import argparse

from regmix.layout import read_index
from regmix.stage import run_stage
from regmix.tokenization.encode import encode_domains


def main(args, params):
    index = {args.domain: read_index(args.domains)[args.domain]}
    done = encode_domains(
        args.domains,
        index,
        args.tokenizer,
        args.out_dir,
        args.cache,
        params.tokenizer.eos_token,
        params.tokenize,
        params.tokenizer.batch_size,
    )
    print(f"{args.domain}: {done['encoded']} file(s) encoded, {done['reused']} from the cache")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--domains", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--out-dir", required=True, help="the domain's chunks go to <out-dir>/<domain>/")
    parser.add_argument("--cache", default="data/cache/tokens", help="finished chunks, kept across runs (resume)")
    run_stage(main, parser)
