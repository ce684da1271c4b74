"""Stage 4: train one shard of the proxy sweep (one small litgpt model per mixture), in parallel workers or on Ray."""

import argparse
import dataclasses
from pathlib import Path

from regmix.files import write_text
from regmix.formats import curves_csv, losses_csv, mixture_rows, read_mixtures_csv
from regmix.proxy.jobs import ProxyJob
from regmix.proxy.local import start_workers
from regmix.proxy.sweep import run_sweep
from regmix.stage import run_stage
from regmix.token_store import TokenStore


def main(args, params):
    if params.sweep.executor == "local":
        start_workers()  # the workers' imports (torch, Lightning) run while this process imports MLflow
    from regmix.proxy.tracking import SweepTracker

    store = TokenStore(args.tokens)
    mixtures = mixture_rows(read_mixtures_csv(args.mixtures, store.train_domains))
    train_cfg = dataclasses.replace(params.proxy.train, seed=params.seed)
    # the target matters to a proxy only through its own evaluation budget (a cached proxy stays valid otherwise)
    target = params.domains.target if train_cfg.target_eval_tokens else None
    jobs = [
        ProxyJob(
            i,
            m,
            args.tokens,
            params.proxy.model,
            train_cfg,
            tuple(store.eval_domains),
            params.sweep.threads,
            target=target,
        )
        for i, m in mixtures.items()
    ]
    tracker = SweepTracker(params, args.tokens)
    results = run_sweep(jobs, args.cache, params.sweep, tracker.log_proxy)  # sweep.executor: local or ray
    write_text(Path(args.out) / "losses.csv", losses_csv(results, store.eval_domains))
    write_text(Path(args.out) / "curves.csv", curves_csv(results, store.eval_domains))
    print(f"shard {args.shard}: {len(results)} proxies")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--mixtures", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache", default="data/cache/proxies", help="finished proxies, kept across crashes")
    run_stage(main, parser)
