"""Score a reproduced workspace's large models on the target's whole validation split: the figure to tune on.

    dvc exp run -S proxy.train.batch_size=8 && python benchmarks/valid_scores.py --label "batch 8"
    python benchmarks/valid_scores.py --project /path/to/copy --label "cosine" --out /tmp/tuning.json

The `score` stage scores the large models on the held-out test split, which no choice may see. A choice
of the pipeline's own settings (the proxies' batch, schedule, label...) is made here instead: the RegMix,
prior, uniform and w* models (seed 0) on every validation document of the target, the gap closure
(L_prior - L_regmix) / (L_prior - L_truth) on those documents with the report's 95% paired bootstrap
interval (`regmix.evaluation.bootstrap.paired_comparison`), RegMix's mixture and its L1 distance to w*,
and the regression's nested-CV rho. Each call adds one labelled entry to the results file
(`benchmarks/results/proxy_tuning.json`), replacing an entry of the same label.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml
from provenance import RESULTS, provenance
from readme_tables import render_tuning

from regmix.evaluation.bootstrap import paired_comparison
from regmix.evaluation.heldout import document_losses, load_checkpoint
from regmix.files import read_json, write_json
from regmix.formats import read_mixture_yaml
from regmix.report.report import l1
from regmix.token_store import TokenStore

RUNS = ("regmix", "prior", "uniform", "truth")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=Path("."), help="a workspace after `dvc repro`")
    parser.add_argument("--label", required=True, help="what this workspace's settings are, e.g. 'batch 4'")
    parser.add_argument("--out", type=Path, default=RESULTS / "proxy_tuning.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    root = args.project
    params = yaml.safe_load((root / "params.yaml").read_text())
    store = TokenStore(root / "data" / "tokens")
    valid = store.array("valid", params["domains"]["target"])[:]
    nll = {}
    for run in RUNS:
        model = load_checkpoint(root / "models" / "large" / run / "seed-0")
        nll[run], tokens = document_losses(model, valid, store.eos_id, model.config.block_size)
    scores = paired_comparison(nll, tokens.astype(float), "regmix", seed=params["seed"])  # the report's bootstrap
    mixture = read_mixture_yaml(root / "models" / "optimal_mixture.yaml", store.train_domains)
    truth = read_mixture_yaml(root / "models" / "baselines" / "truth.yaml", store.train_domains)
    fit = read_json(root / "models" / "regression" / "fit_report.json")
    entry = {
        "label": args.label,
        "proxy_train": params["proxy"]["train"],
        "proxies": fit["n_proxies"],
        "valid_documents": scores["documents"],
        "valid_loss": scores["loss"],
        "valid_gap_closure": scores["gap_closure"],
        "valid_gap_closure_ci95": scores["gap_closure_ci95"],
        "regmix_mixture": {d: round(w, 3) for d, w in mixture.items()},
        "l1_to_truth": l1(mixture, truth),
        "regression": {"chosen": fit["chosen"], "nested_cv_spearman": fit["nested"]["cv_spearman"]},
    }
    doc = read_json(args.out) if args.out.exists() else {"benchmark": "valid_scores", "entries": []}
    doc.update(provenance(["torch", "litgpt"]))
    doc["entries"] = [e for e in doc["entries"] if e["label"] != args.label] + [entry]
    write_json(args.out, doc)
    print(render_tuning(doc))


if __name__ == "__main__":
    main()
