"""Stage 9b: score every large model on the target's held-out test split, document by document.

Writes `<out>/<run>/seed-<seed>.csv` per run and seed and `<out>/validation/<id>.csv` per validation
model (domain, document, predicted tokens, summed NLL in nats) and `<out>/test_loss.json` ({model:
{domain: loss}}, models named `<run>-<seed>`, `validation-<id>`); the report's confidence intervals
resample these documents. Only the target is scored: it is what the mixture was chosen for, and
scoring every domain's test split would cost as much again per domain.
"""

import argparse
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from regmix.evaluation.heldout import document_losses, load_checkpoint
from regmix.files import write_json, write_text
from regmix.large_models import large_models
from regmix.stage import run_stage
from regmix.token_store import TokenStore


def main(args, params):
    torch.set_num_threads(params.large.threads)
    store = TokenStore(args.test_tokens)
    losses = {}
    for m in tqdm(large_models(params), desc="test scoring", unit="model"):
        model = load_checkpoint(Path(args.large) / m.folder)
        rows = []
        for domain in [d for d in store.test_domains if d == params.domains.target]:
            nll, tokens = document_losses(model, store.array("test", domain)[:], store.eos_id, model.config.block_size)
            rows.append(pd.DataFrame({"domain": domain, "document": range(len(nll)), "tokens": tokens, "nll": nll}))
        table = pd.concat(rows) if rows else pd.DataFrame(columns=["domain", "document", "tokens", "nll"])
        write_text(Path(args.out) / f"{m.folder}.csv", table.to_csv(index=False, float_format="%.6f"))
        losses[m.label] = {d: float(g.nll.sum() / g.tokens.sum()) for d, g in table.groupby("domain")}
    write_json(Path(args.out) / "test_loss.json", losses)
    print({name: round(v.get(params.domains.target, float("nan")), 4) for name, v in losses.items()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", required=True, help="the large models' checkpoints, one folder per run")
    parser.add_argument("--test-tokens", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
