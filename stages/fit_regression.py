"""Stage 6: fit the regression from mixture weights to the target loss; report its held-out accuracy."""

import argparse
import dataclasses

from regmix.formats import loss_column
from regmix.regression.fit import fit_dir
from regmix.stage import run_stage


def main(args, params):
    cfg = dataclasses.replace(params.regression, seed=params.seed)
    report = fit_dir(args.mixtures, args.losses, loss_column(params.domains.target), args.out, cfg)
    print(f"chosen {report['chosen']}: held-out Spearman rho {report['nested']['cv_spearman']:.4f} (nested CV)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mixtures", required=True)
    parser.add_argument("--losses", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
