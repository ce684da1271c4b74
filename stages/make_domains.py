"""Stage 1: the domains in the paper's layout (synthetic by default, a local directory, a HF dataset, the raw Pile)."""

import argparse
import dataclasses

from regmix.data import hf, local, pile, synthetic
from regmix.layout import index_layout, write_layout
from regmix.stage import run_stage


def main(args, params):
    d = params.domains
    if d.source == "synthetic":
        cfg = dataclasses.replace(d.synthetic, seed=params.seed)
        splits = synthetic.generate(cfg, d.target)
        meta = {
            "source": "synthetic",
            "train_domains": list(splits["train"]),
            "eval_domains": sorted(splits["valid"]),
            "target": d.target,
            "true_mixture": cfg.true_mixture,
        }
        write_layout(args.out, splits, meta)
    elif d.source == "local":
        local.copy_local(d.path, args.out, d.target, d.prefix)
    elif d.source == "pile":
        pile.load_pile(d.pile, args.out, d.target, d.prefix)
    else:
        hf.load_hf(d.hf, args.out, d.target, d.prefix)
    # one index file per domain: each domain's tokenize stage depends on its own (and on none for an absent one)
    index_layout(args.out, params.tokenize.domains)
    print(f"wrote domains to {args.out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
