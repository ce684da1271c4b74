"""Stage 9: train the large model on one mixture (RegMix's or a baseline); evaluate it on every domain.

Lightning Fabric as `large.fabric` sets it: one process, or DDP / FSDP over devices and nodes. The
script launches its own processes on one node (`fabric.launch`); every process draws the same global
batch and trains on its rows, and only global rank 0 writes the outputs and logs to MLflow.
"""

import argparse
import contextlib
import dataclasses
import os
from pathlib import Path

import torch
from tqdm import tqdm

from regmix.files import atomic_path, write_json, write_text
from regmix.formats import curves_csv, read_mixture_yaml
from regmix.hashing import key_of
from regmix.mixtures.sampling import check_usage
from regmix.stage import run_stage
from regmix.token_store import TokenStore
from regmix.tracking import Tracker, result_metrics, run_tags, tracking_uri
from regmix.training.checkpoint import save_litgpt_checkpoint
from regmix.training.loop import build_fabric, train


def main(args, params):
    fabric = build_fabric(params.large.fabric, params.large.train.precision)
    fabric.launch(run, args, params)  # starts the other processes of this node (DDP, FSDP); then runs `run` in each


def run(fabric, args, params):
    rank0 = fabric.global_rank == 0
    store = TokenStore(args.tokens)
    mixture = read_mixture_yaml(args.mixture, store.train_domains)
    cfg, model_cfg = dataclasses.replace(params.large.train, seed=params.seed), params.large.model
    check_usage(mixture, store.counts["train"], cfg.tokens, params.mixtures.max_epochs, args.mixture)
    torch.set_num_threads(params.large.threads)
    bar = tqdm(desc=f"large model ({args.name})", unit="step", disable=not rank0)
    model, result = train(
        model_cfg,
        cfg,
        mixture,
        store,
        store.eval_domains,
        fabric,
        on_step=lambda step, total: (setattr(bar, "total", total), bar.update()),
    )
    bar.close()
    # the checkpoint appears whole or not at all; saving is collective (FSDP gathers), rank 0 writes
    with atomic_path(args.out) if rank0 else contextlib.nullcontext(Path(args.out)) as out:
        save_litgpt_checkpoint(
            fabric,
            model,
            model_cfg,
            store.vocab_size,
            store.root / "tokenizer.json",
            out,
            f"regmix-large-{args.name}",
            params.tokenizer.eos_token,
        )
        if rank0:
            write_text(out / "curves.csv", curves_csv({0: result.as_dict()}, store.eval_domains))
            write_json(
                out / "metrics.json",
                {
                    "name": args.name,
                    "mixture": mixture,
                    "val_loss": result.final,
                    "train_loss": result.train_loss,
                    "tokens": result.tokens_seen,
                    "seconds": round(result.seconds, 1),
                    "fabric": {**dataclasses.asdict(params.large.fabric), "world_size": fabric.world_size},
                },
            )
    if not rank0:
        return

    tracker = Tracker(tracking_uri(params.mlflow.tracking_uri), params.mlflow.experiment)
    key = key_of(
        [args.name, mixture, dataclasses.asdict(cfg), dataclasses.asdict(model_cfg), os.environ.get("DVC_EXP_NAME", "")]
    )
    run_id, _ = tracker.find_or_create(f"large-{args.name}", key, {**run_tags(), "regmix.kind": "large"})
    tracker.log(
        run_id,
        params={
            "mixture_name": args.name,
            "weight": mixture,
            "model": dataclasses.asdict(model_cfg),
            "train": dataclasses.asdict(cfg),
        },
        metrics=result_metrics(result.as_dict()),
    )
    tracker.finish(run_id)
    print(f"{args.name}: target loss {result.final[params.domains.target]:.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--mixture", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
