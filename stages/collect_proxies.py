"""Stage 5: gather the shards' losses into the paper's losses CSV; close the sweep's MLflow run."""

import argparse
from pathlib import Path

import pandas as pd

from regmix import figures
from regmix.errors import InputError
from regmix.io import write_text
from regmix.stage import run_stage
from regmix.sweep import loss_column
from regmix.sweep_tracking import SweepTracker


def concat_csv(paths: list[Path]) -> str:
    """Concatenate CSVs with one header, as text: the values stay byte-for-byte as the shards wrote them."""
    header, rows = None, []
    for path in paths:
        if not path.is_file():
            raise InputError(str(path), "missing", f"run `dvc repro` for the shard in {path.parent}")
        lines = path.read_text().splitlines()
        if header is not None and lines[0] != header:
            raise InputError(str(path), f"header {lines[0]!r} differs from the other shards' {header!r}", "rerun the shards on the same data")
        header = lines[0]
        rows += lines[1:]
    rows.sort(key=lambda r: [int(x) for x in r.split(",")[:2] if x.isdigit()])
    return "\n".join([header] + rows) + "\n"


def main(args, params):
    shards = [Path(args.shards) / str(s) for s in params.sweep.shards]
    out, target = Path(args.out), params.domains.target
    write_text(out / "losses.csv", concat_csv([s / "losses.csv" for s in shards]))
    write_text(out / "curves.csv", concat_csv([s / "curves.csv" for s in shards]))
    losses, curve = pd.read_csv(out / "losses.csv"), pd.read_csv(out / "curves.csv")
    figures.proxy_curves(out / "curves.png", {i: list(zip(g["step"], g[target])) for i, g in curve.groupby("index")}, target)
    tracker = SweepTracker(params, args.tokens)
    best = losses[loss_column(target)]
    tracker.tracker.log(tracker.parent, metrics=[("proxies", len(losses), 0), ("best_target_loss", best.min(), 0), ("mean_target_loss", best.mean(), 0)])
    tracker.tracker.finish(tracker.parent)
    print(f"{len(losses)} proxies; target loss {best.min():.4f} to {best.max():.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
