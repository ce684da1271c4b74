"""Stage 9: train one large model on one mixture (RegMix's, a baseline or a validation mixture) with one seed.

`large@<run>-<seed>` trains run `<run>` of `large.runs` with seed `<seed>` of `large.seeds` (the
initialisation and the data order); `validate@<id>` trains validation mixture `<id>` with `seed`.

Lightning Fabric as `large.fabric` sets it: one process, or DDP / FSDP over devices and nodes. The
script launches its own processes on one node (`fabric.launch`); every process draws the same global
batch and trains on its rows, and only global rank 0 writes the outputs and logs to MLflow.

With `large.train.checkpoint_every`, the run saves a resume checkpoint at intervals in
`<cache>/<name>-<key>/` (outside DVC's outputs; the key hashes everything that decides the run), and a
rerun after a kill continues from it; the folder is removed once the outputs are written. The MLflow
run is open while training and logs every evaluation as it happens; a resumed run continues it.
"""

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
from pathlib import Path

from regmix.files import atomic_path, write_json, write_text
from regmix.formats import curves_csv, read_mixture_yaml
from regmix.hashing import key_of
from regmix.mixtures.sampling import check_usage
from regmix.stage import run_stage
from regmix.token_store import TokenStore


def main(args, params):
    # a bad mixture is reported before torch, Lightning and MLflow are imported (seconds on a small machine)
    store = TokenStore(args.tokens)
    mixture = read_mixture_yaml(args.mixture, store.train_domains)
    check_usage(mixture, store.counts["train"], params.large.train.tokens, params.mixtures.max_epochs, args.mixture)
    from regmix.training.loop import build_fabric

    fabric = build_fabric(params.large.fabric, params.large.train.precision)
    # starts the other processes of this node (DDP, FSDP), which run this script again; then runs `run` in each
    fabric.launch(run, args, params, store, mixture)


def run_key(name: str, mixture: dict, cfg, model_cfg, fabric_cfg, store: TokenStore) -> str:
    """Everything that decides the run's results (not how often it checkpoints): a changed run never resumes."""
    train_cfg = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "checkpoint_every"}
    return key_of(
        [name, mixture, train_cfg, dataclasses.asdict(model_cfg), dataclasses.asdict(fabric_cfg), store.fingerprint]
    )


def remove_stale_checkpoints(folder: Path, name: str) -> None:
    """Remove the resume folders of `name` other than `folder`: runs whose settings have changed never resume."""
    for other in folder.parent.glob(f"{name}-*"):
        if other != folder and re.fullmatch(r"[0-9a-f]{16}", other.name.removeprefix(f"{name}-")):
            shutil.rmtree(other, ignore_errors=True)


def run(fabric, args, params, store: TokenStore, mixture: dict):
    import torch
    from tqdm import tqdm

    from regmix.training.checkpoint import save_litgpt_checkpoint
    from regmix.training.loop import train

    rank0 = fabric.global_rank == 0
    cfg, model_cfg = dataclasses.replace(params.large.train, seed=args.seed), params.large.model
    torch.set_num_threads(params.large.threads)
    key = run_key(args.name, mixture, cfg, model_cfg, params.large.fabric, store)
    resume = Path(args.cache) / f"{args.name}-{key}" / "resume.ckpt"
    live = None
    if rank0:
        remove_stale_checkpoints(resume.parent, args.name)
        live = open_run(params, args.name, key, mixture, cfg, model_cfg)
        if resume.is_file():
            print(f"{args.name}: resuming from {resume}")
    bar = tqdm(desc=f"large model ({args.name})", unit="step", disable=not rank0)
    model, result = train(
        model_cfg,
        cfg,
        mixture,
        store,
        store.eval_domains,
        fabric,
        on_step=lambda step, total: (setattr(bar, "total", total), bar.update(step - bar.n)),
        on_eval=live.log_progress if live else None,
        resume=resume,  # saved every cfg.checkpoint_every steps
        target=params.domains.target,
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
                    "seed": cfg.seed,
                    "mixture": mixture,
                    "val_loss": result.final,
                    "train_loss": result.train_loss,
                    "tokens": result.tokens_seen,
                    "fabric": {**dataclasses.asdict(params.large.fabric), "world_size": fabric.world_size},
                },
            )
    if not rank0:
        return
    live.finish(result)
    shutil.rmtree(resume.parent, ignore_errors=True)  # the outputs are written: nothing left to resume
    print(f"{args.name}: target loss {result.final[params.domains.target]:.4f}")


def open_run(params, name: str, key: str, mixture: dict, cfg, model_cfg):
    """The run's MLflow run (a `tracking.LiveRun`), open while it trains (the same run again when a killed run
    resumes)."""
    from regmix.tracking import LiveRun, Tracker, run_tags, tracking_uri

    tracker = Tracker(tracking_uri(params.mlflow.tracking_uri), params.mlflow.experiment)
    return LiveRun(
        tracker,
        f"large-{name}",
        key_of([key, os.environ.get("DVC_EXP_NAME", "")]),
        {**run_tags(), "regmix.kind": "large"},
        {
            "run": name,
            "seed": cfg.seed,
            "weight": mixture,
            "model": dataclasses.asdict(model_cfg),
            "train": dataclasses.asdict(cfg),
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True, help="the model's name: <run>-<seed> or validation-<id>")
    parser.add_argument("--seed", type=int, required=True, help="the run's seed (init and data order)")
    parser.add_argument("--mixture", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache", default="data/cache/large", help="resume checkpoints of unfinished runs")
    run_stage(main, parser)
