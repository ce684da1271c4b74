"""Stage 1: the domains, in the paper's layout (synthetic by default, or a local directory, or a HF dataset)."""

import argparse
import dataclasses

from regmix.data import hf, local, synthetic
from regmix.layout import write_layout
from regmix.stage import run_stage


def main(args, params):
    d = params.domains
    if d.source == "synthetic":
        cfg = dataclasses.replace(d.synthetic, seed=params.seed)
        train, valid = synthetic.generate(cfg, d.target)
        meta = {
            "source": "synthetic",
            "train_domains": list(train),
            "eval_domains": sorted(valid),
            "target": d.target,
            "true_mixture": cfg.true_mixture,
        }
        write_layout(args.out, train, valid, meta)
    elif d.source == "local":
        local.copy_local(d.path, args.out, d.target, d.prefix)
    else:
        hf.load_hf(d.hf, args.out, d.target, d.prefix)
    print(f"wrote domains to {args.out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
