"""Stage 4b: encode every domain's held-out test split into data/test_tokens, read only by the final scoring.

It depends on the test split's own index (data/domains/test-index.json), not on the domains' index,
so changing test documents reruns this stage, the scoring and the report, and nothing that trains,
fits or selects.
"""

import argparse
import tempfile
from pathlib import Path

from regmix.layout import read_test_index
from regmix.stage import run_stage
from regmix.tokenization.encode import encode_domains
from regmix.tokenization.merge import merge_tokens


def main(args, params):
    index = read_test_index(args.domains)
    eos = params.tokenizer.eos_token
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(args.out).parent, prefix=".encode-test-") as encoded:
        encode_domains(
            args.domains,
            index,
            args.tokenizer,
            encoded,
            args.cache,
            eos,
            params.tokenize,
            params.tokenizer.batch_size,
            splits=("test",),
        )
        counts = merge_tokens(encoded, index, list(index), args.tokenizer, args.out, None, eos, splits=("test",))
    print("test tokens per domain:", counts["test"] or "none (the data has no test split)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domains", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache", default="data/cache/tokens", help="finished chunks, kept across runs (resume)")
    run_stage(main, parser)
