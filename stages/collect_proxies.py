"""Stage 5: gather the shards' losses into the paper's losses CSV; close the sweep's MLflow run."""

import argparse
from pathlib import Path

from regmix.files import write_text
from regmix.formats import loss_column, merge_csvs, read_losses_csv
from regmix.proxy.tracking import SweepTracker
from regmix.stage import run_stage


def main(args, params):
    shards = [Path(args.shards) / str(s) for s in params.sweep.shards]
    out, target = Path(args.out), params.domains.target
    write_text(out / "losses.csv", merge_csvs([s / "losses.csv" for s in shards]))
    write_text(out / "curves.csv", merge_csvs([s / "curves.csv" for s in shards]))
    losses = read_losses_csv(out / "losses.csv", [loss_column(target)])
    tracker = SweepTracker(params, args.tokens)
    best = losses[loss_column(target)]
    tracker.tracker.log(
        tracker.parent,
        metrics=[
            ("proxies", len(losses), 0),
            ("best_target_loss", best.min(), 0),
            ("mean_target_loss", best.mean(), 0),
        ],
    )
    tracker.tracker.finish(tracker.parent)
    print(f"{len(losses)} proxies; target loss {best.min():.4f} to {best.max():.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
