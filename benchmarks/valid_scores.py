"""Score a reproduced workspace's large models on the target's whole validation split: the figure to tune on.

    dvc exp run -S proxy.train.batch_size=8 && python benchmarks/valid_scores.py --label "batch 8"
    python benchmarks/valid_scores.py --project /path/to/copy --label "cosine" --out /tmp/tuning.json

The `score` stage scores the large models on the held-out test split, which no choice may see. A choice
of the pipeline's own settings (the proxies' batch, schedule, label...) is made here instead: every large
model of `large.runs` (seed 0) on every validation document of the target, the gap closure
(L_prior - L_regmix) / (L_prior - L_truth) on those documents with a 95% bootstrap interval (2,000
resamples of the documents), RegMix's mixture and its L1 distance to w*, and the regression's nested-CV
rho. Each call adds one labelled entry to the results file (`benchmarks/results/proxy_tuning.json`),
replacing an entry of the same label.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import yaml
from provenance import RESULTS, provenance
from readme_tables import render_tuning

from regmix.evaluation.heldout import document_losses, load_checkpoint
from regmix.files import write_json
from regmix.formats import domain_of
from regmix.token_store import TokenStore

RUNS = ("regmix", "prior", "uniform", "truth")


def gap_closure(nll: dict, tokens: dict, rows=slice(None)) -> float:
    loss = {r: nll[r][rows].sum() / tokens[r][rows].sum() for r in nll}
    return float((loss["prior"] - loss["regmix"]) / (loss["prior"] - loss["truth"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=Path("."), help="a workspace after `dvc repro`")
    parser.add_argument("--label", required=True, help="what this workspace's settings are, e.g. 'batch 4'")
    parser.add_argument("--out", type=Path, default=RESULTS / "proxy_tuning.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    params = yaml.safe_load((args.project / "params.yaml").read_text())
    target = params["domains"]["target"]
    store = TokenStore(args.project / "data" / "tokens")
    valid = store.array("valid", target)[:]
    nll, tokens = {}, {}
    for run in RUNS:
        model = load_checkpoint(args.project / "models" / "large" / run / "seed-0")
        n, t = document_losses(model, valid, store.eos_id, model.config.block_size)
        nll[run], tokens[run] = np.asarray(n, dtype=float), np.asarray(t, dtype=float)
    docs = len(nll["prior"])
    rng = np.random.default_rng(0)
    boot = [gap_closure(nll, tokens, rng.integers(0, docs, docs)) for _ in range(2000)]
    mixture = yaml.safe_load((args.project / "models" / "optimal_mixture.yaml").read_text())["train"]
    truth = yaml.safe_load((args.project / "models" / "baselines" / "truth.yaml").read_text())["train"]
    fit = json.loads((args.project / "models" / "regression" / "fit_report.json").read_text())
    entry = {
        "label": args.label,
        "proxy_train": params["proxy"]["train"],
        "valid_documents": docs,
        "valid_loss": {r: float(nll[r].sum() / tokens[r].sum()) for r in RUNS},
        "valid_gap_closure": gap_closure(nll, tokens),
        "valid_gap_closure_ci95": [float(x) for x in np.percentile(boot, [2.5, 97.5])],
        "regmix_mixture": {domain_of(k): round(float(v), 3) for k, v in mixture.items()},
        "l1_to_truth": float(sum(abs(mixture[k] - truth.get(k, 0.0)) for k in mixture)),
        "regression": {"chosen": fit["chosen"], "nested_cv_spearman": fit["nested"]["cv_spearman"]},
    }
    doc = json.loads(args.out.read_text()) if args.out.exists() else {"benchmark": "valid_scores", "entries": []}
    doc.update(provenance(["torch", "litgpt"]))
    doc["entries"] = [e for e in doc["entries"] if e["label"] != args.label] + [entry]
    write_json(args.out, doc)
    print(render_tuning(doc))


if __name__ == "__main__":
    main()
