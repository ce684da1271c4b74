"""Benchmark the regression candidates on the paper's 512 proxy runs; prints a markdown table.

    python benchmarks/regression_benchmark.py [--data ../shared/regmix-paper-data] [--folds 10]

Per model: 10-fold CV Spearman rho (with a bootstrap 95% CI) on Pile-CC, the mean 10-fold CV rho
over all 13 loss targets, the time of one fit on all 512 rows, and the time to sample and predict
1,000,000 candidate mixtures. The "chosen (nested CV)" row is the honest accuracy of the model
choice itself: in each outer fold the candidate is picked by inner CV on that fold's training rows.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from regmix.config.mixtures import MixtureConfig
from regmix.config.regression import RegressionConfig
from regmix.mixtures.sampling import sample_candidates
from regmix.regression.cv import (
    accuracy,
    bootstrap_indices,
    choose,
    cv_predictions,
    folds_of,
    nested_cv,
    paired_bootstrap,
    spearman,
)
from regmix.regression.estimators import make_estimator
from regmix.regression.fit import BASELINES, read_training_data
from regmix.simulation.simulate import predict_chunks

REPO = Path(__file__).resolve().parents[1]
PILE_CC = "metric/the_pile_pile_cc_val_loss"
# The paper's prior for the simulation: the token distribution of the 17 Pile domains, from
# sail-sg/regmix `mixture_config/synthesize_mixture.py`.
PAPER_PRIOR = {
    "the_pile_arxiv": 0.113285273,
    "the_pile_freelaw": 0.079608651,
    "the_pile_nih_exporter": 0.003913491,
    "the_pile_pubmed_central": 0.185375901,
    "the_pile_wikipedia_en": 0.051081359,
    "the_pile_dm_mathematics": 0.015962925,
    "the_pile_github": 0.101750772,
    "the_pile_philpapers": 0.003707518,
    "the_pile_stackexchange": 0.066529351,
    "the_pile_enron_emails": 0.001750772,
    "the_pile_gutenberg_pg_19": 0.027085479,
    "the_pile_pile_cc": 0.236869207,
    "the_pile_ubuntu_irc": 0.01184346,
    "the_pile_europarl": 0.007929969,
    "the_pile_hackernews": 0.008032956,
    "the_pile_pubmed_abstracts": 0.038825953,
    "the_pile_uspto_backgrounds": 0.046446962,
}


def evaluate_target(data: Path, target: str, config: RegressionConfig, cache: Path | None) -> dict:
    """Out-of-fold predictions of every candidate and of the nested choice for one target.

    With `cache`, the result is kept there (keyed by target and config) so an interrupted run resumes.
    """
    key = hashlib.sha1(repr((target, config)).encode()).hexdigest()[:16]
    path = cache / f"{key}.pkl" if cache else None
    if path and path.is_file():
        return pickle.loads(path.read_bytes())
    start = time.perf_counter()
    weights, y = read_training_data(data / "train_mixture_1m.csv", data / "train_pile_loss_1m.csv", target)
    X, y = weights.to_numpy(float), y.to_numpy(float)
    names = list(dict.fromkeys([*BASELINES, *config.candidates]))
    folds = folds_of(len(y), config.folds, config.seed)
    preds = cv_predictions(names, X, y, folds, config)
    selectable = {n: preds[n] for n in config.candidates}
    nested, choices = nested_cv(list(config.candidates), X, y, config, selectable, folds)
    result = {
        "target": target,
        "y": y,
        "preds": preds,
        "nested": nested,
        "choices": choices,
        "chosen": choose(selectable, y),
    }
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(result))
    print(f"{target}: {time.perf_counter() - start:.0f} s, chosen {result['chosen']}", flush=True)
    return result


def time_model(data: Path, name: str, config: RegressionConfig, n_candidates: int) -> tuple[float, float]:
    """Seconds to fit `name` on all rows (Pile-CC) and to sample and predict `n_candidates` mixtures."""
    weights, y = read_training_data(data / "train_mixture_1m.csv", data / "train_pile_loss_1m.csv", PILE_CC)
    start = time.perf_counter()
    est = make_estimator(name, config).fit(weights.to_numpy(float), y.to_numpy(float))
    fit_s = time.perf_counter() - start
    prior = {d: PAPER_PRIOR[d] for d in weights.columns}
    start = time.perf_counter()
    candidates = sample_candidates(prior, n_candidates, MixtureConfig(), 0)
    predict_chunks(est, candidates, 200_000)
    return fit_s, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "regmix-paper-data"))
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--inner-folds", type=int, default=3)
    p.add_argument("--candidates", nargs="+", help="default: RegressionConfig's candidates")
    p.add_argument("--n-candidates", type=int, default=1_000_000)
    p.add_argument("--jobs", type=int, default=2, help="targets evaluated in parallel")
    p.add_argument("--pile-cc-only", action="store_true")
    p.add_argument("--cache", help="folder for per-target results, so an interrupted run resumes")
    args = p.parse_args()
    data = Path(args.data)
    if not (data / "train_mixture_1m.csv").is_file():
        raise SystemExit(
            f"paper data not found in {data}: pass --data DIR holding train_mixture_1m.csv and train_pile_loss_1m.csv"
        )
    kw = {"candidates": args.candidates} if args.candidates else {}
    config = RegressionConfig(folds=args.folds, inner_folds=args.inner_folds, figures=False, **kw)
    with open(data / "train_pile_loss_1m.csv") as f:
        targets = [c for c in f.readline().strip().split(",") if c != "index"]
    if args.pile_cc_only:
        targets = [PILE_CC]
    start = time.perf_counter()
    results = Parallel(n_jobs=args.jobs)(
        delayed(evaluate_target)(data, t, config, Path(args.cache) if args.cache else None) for t in targets
    )
    cv_s = time.perf_counter() - start
    by_target = {r["target"]: r for r in results}
    cc = by_target[PILE_CC]
    boot = bootstrap_indices(len(cc["y"]), 1000, 0)
    names = list(cc["preds"])
    rows = []
    for name in names + ["chosen (nested CV)"]:
        pred_of = (lambda r: r["nested"]) if name.startswith("chosen") else (lambda r, n=name: r["preds"][n])
        acc = accuracy(cc["y"], pred_of(cc), boot)
        mean = np.mean([spearman(pred_of(r), r["y"]) for r in results])
        model = cc["chosen"] if name.startswith("chosen") else name
        fit_s, sim_s = time_model(data, model, config, args.n_candidates)
        label = f"chosen (nested CV; final: {model})" if name.startswith("chosen") else name
        rows.append((label, acc, mean, fit_s, sim_s))
    print(
        f"\nRegMix regression benchmark: paper's 512 proxies, {args.folds}-fold CV (inner {args.inner_folds}-fold "
        "for the choice), "
        f"{len(targets)} targets, CV took {cv_s:.0f} s\n"
    )
    print(
        f"| model | Pile-CC rho (95% CI) | mean rho, {len(targets)} targets | fit s (512 rows) | simulate "
        f"{args.n_candidates:,} s |"
    )
    print("|---|---|---|---|---|")
    for label, acc, mean, fit_s, sim_s in rows:
        print(
            f"| {label} | {100 * acc['cv_spearman']:.2f} ({100 * acc['ci95'][0]:.2f}-{100 * acc['ci95'][1]:.2f}) "
            f"| {100 * mean:.2f} | {fit_s:.2f} | {sim_s:.1f} |"
        )
    test = paired_bootstrap(cc["y"], cc["nested"], cc["preds"]["lightgbm"], boot)
    print(
        f"\nPile-CC, chosen (nested) minus LightGBM: rho difference {100 * test['rho_difference']:+.2f} "
        f"(95% CI {100 * test['ci95'][0]:+.2f} to {100 * test['ci95'][1]:+.2f}), one-sided paired bootstrap "
        f"{test['p_value_text']}"
    )
    print("Choices per outer fold (Pile-CC): " + ", ".join(cc["choices"]))
    print(
        "Final choice per target: "
        + ", ".join(
            f"{r['target'].removeprefix('metric/the_pile_').removesuffix('_val_loss')}={r['chosen']}" for r in results
        )
    )


if __name__ == "__main__":
    main()
