"""Benchmark the regression candidates on the paper's 512 proxy runs; writes a results file and prints a table.

    OPENBLAS_NUM_THREADS=1 python benchmarks/regression_benchmark.py     # the full run README.md shows
    python benchmarks/readme_tables.py --write                           # then README.md's table from it

Per model: 10-fold CV Spearman rho (with a bootstrap 95% CI) on Pile-CC, the mean 10-fold CV rho
over all 13 loss targets, the time of one fit on all 512 rows, and the time to sample and predict
1,000,000 candidate mixtures. The "chosen" row is the honest accuracy of the model choice itself:
in each outer fold the candidate is picked by inner CV on that fold's training rows. Then the
one-sided paired bootstrap test of the chosen model against the paper's LightGBM and linear
regression on Pile-CC, with the smallest p-value the resamples can give (1 / (n_bootstrap + 1)).

Everything, with the settings, library versions, date and machine, goes to `--out`
(`benchmarks/results/regression_benchmark.json` by default; written atomically). A quick check:

    OPENBLAS_NUM_THREADS=1 python benchmarks/regression_benchmark.py --pile-cc-only --folds 3 \\
        --candidates linear lightgbm loglinear --n-candidates 10000 --n-bootstrap 200 --jobs 1 --out /tmp/rb.json
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import pickle
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from provenance import RESULTS, provenance

from regmix.config.mixtures import MixtureConfig
from regmix.config.regression import RegressionConfig
from regmix.files import write_json
from regmix.formats import read_training_data
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
from regmix.regression.fit import BASELINES
from regmix.simulation.simulate import predict_chunks

REPO = Path(__file__).resolve().parents[1]
PILE_CC = "metric/the_pile_pile_cc_val_loss"
DEFAULT_DATA = REPO.parent / "shared" / "regmix-paper-data"
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


def short(target: str) -> str:
    """`pile_cc` for metric/the_pile_pile_cc_val_loss (and for the_pile_pile_cc or pile_cc)."""
    return target.removeprefix("metric/").removeprefix("the_pile_").removesuffix("_val_loss")


def paired_test(y: np.ndarray, chosen: np.ndarray, other: np.ndarray, boot: np.ndarray, other_name: str) -> dict:
    """The one-sided paired bootstrap test of chosen > other, with the smallest p it can give."""
    test = paired_bootstrap(y, chosen, other, boot)
    return {
        "against": other_name,
        **test,
        "p_floor": test["p_value_floor"],
        "at_floor": test["p_value"] == test["p_value_floor"],
        "p_text": test["p_value_text"],
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with train_mixture_1m.csv, train_pile_loss_1m.csv")
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--inner-folds", type=int, default=3)
    p.add_argument("--n-bootstrap", type=int, default=1000, help="resamples for the CIs and the paired test")
    p.add_argument("--candidates", nargs="+", help="default: RegressionConfig's candidates")
    p.add_argument("--n-candidates", type=int, default=1_000_000, help="simulated mixtures timed per model")
    p.add_argument("--jobs", type=int, default=2, help="targets evaluated in parallel")
    p.add_argument(
        "--targets",
        nargs="+",
        help="loss columns (or short names, e.g. pile_cc) to evaluate; Pile-CC is always among them; default: all 13",
    )
    p.add_argument("--pile-cc-only", action="store_true", help="the same as --targets pile_cc")
    p.add_argument("--cache", help="folder for per-target results, so an interrupted run resumes")
    p.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "regression_benchmark.json",
        help="results file (default: benchmarks/results/regression_benchmark.json, what README.md shows)",
    )
    args = p.parse_args(argv)
    data = Path(args.data)
    if not (data / "train_mixture_1m.csv").is_file():
        raise SystemExit(
            f"paper data not found in {data}: pass --data DIR holding train_mixture_1m.csv and train_pile_loss_1m.csv"
        )
    kw = {"candidates": args.candidates} if args.candidates else {}
    config = RegressionConfig(
        folds=args.folds, inner_folds=args.inner_folds, n_bootstrap=args.n_bootstrap, figures=False, **kw
    )
    with open(data / "train_pile_loss_1m.csv") as f:
        all_targets = [c for c in f.readline().strip().split(",") if c != "index"]
    targets = all_targets
    if args.pile_cc_only or args.targets:
        wanted = {PILE_CC} | {f"metric/the_pile_{short(t)}_val_loss" for t in args.targets or []}
        unknown = wanted - set(all_targets)
        if unknown:
            raise SystemExit(f"unknown targets {sorted(unknown)}; use some of: {', '.join(map(short, all_targets))}")
        targets = [t for t in all_targets if t in wanted]
    meta = provenance(["numpy", "scipy", "scikit-learn", "lightgbm", "joblib"])
    start = time.perf_counter()
    results = Parallel(n_jobs=args.jobs)(
        delayed(evaluate_target)(data, t, config, Path(args.cache) if args.cache else None) for t in targets
    )
    cv_s = time.perf_counter() - start
    by_target = {r["target"]: r for r in results}
    cc = by_target[PILE_CC]
    boot = bootstrap_indices(len(cc["y"]), config.n_bootstrap, config.seed)
    models = []
    for name in [*cc["preds"], "chosen"]:
        pred_of = (lambda r: r["nested"]) if name == "chosen" else (lambda r, n=name: r["preds"][n])
        acc = accuracy(cc["y"], pred_of(cc), boot)
        rho_by_target = {short(r["target"]): spearman(pred_of(r), r["y"]) for r in results}
        model = cc["chosen"] if name == "chosen" else name
        fit_s, sim_s = time_model(data, model, config, args.n_candidates)
        entry = {
            "name": name,
            "pile_cc": {"rho": acc["cv_spearman"], "ci95": acc["ci95"], "pearson": acc["pearson"], "mse": acc["mse"]},
            "mean_rho": float(np.mean(list(rho_by_target.values()))),
            "rho_by_target": rho_by_target,
            "fit_s": fit_s,
            "simulate_s": sim_s,
        }
        if name == "chosen":
            entry.update(final_model=model, choices_per_fold=cc["choices"])
        models.append(entry)
    tests = [paired_test(cc["y"], cc["nested"], cc["preds"][b], boot, b) for b in BASELINES]
    doc = {
        "benchmark": "regression_benchmark",
        **meta,
        "settings": {
            "data": "../shared/regmix-paper-data" if data == DEFAULT_DATA else str(data),
            "n_rows": len(cc["y"]),
            "targets": [short(t) for t in targets],
            "folds": config.folds,
            "inner_folds": config.inner_folds,
            "n_bootstrap": config.n_bootstrap,
            "seed": config.seed,
            "n_candidates": args.n_candidates,
            "jobs": args.jobs,
            "candidates": config.candidates,
            "ensemble_members": config.ensemble_members,
            "lightgbm": dataclasses.asdict(config.lightgbm),
            "lightgbm_reg": dataclasses.asdict(config.lightgbm_reg),
            "gp": dataclasses.asdict(config.gp),
            "threads": config.threads,
        },
        "cv_s": cv_s,
        "models": models,
        "paired_tests": tests,  # chosen (nested CV) against each of the paper's models, on Pile-CC
        "final_choice_per_target": {short(r["target"]): r["chosen"] for r in results},
    }
    write_json(args.out, doc)
    print(
        f"\nRegMix regression benchmark: paper's {len(cc['y'])} proxies, {args.folds}-fold CV (inner "
        f"{args.inner_folds}-fold for the choice), {len(targets)} targets, CV took {cv_s:.0f} s\n"
    )
    print(
        f"| model | Pile-CC rho (95% CI) | mean rho, {len(targets)} targets | fit s ({len(cc['y'])} rows) | simulate "
        f"{args.n_candidates:,} s |"
    )
    print("|---|---|---|---|---|")
    for m in models:
        rho, (lo, hi) = m["pile_cc"]["rho"], m["pile_cc"]["ci95"]
        label = f"chosen (nested CV; final: {m['final_model']})" if m["name"] == "chosen" else m["name"]
        print(
            f"| {label} | {100 * rho:.2f} ({100 * lo:.2f}-{100 * hi:.2f}) | {100 * m['mean_rho']:.2f} "
            f"| {m['fit_s']:.2f} | {m['simulate_s']:.1f} |"
        )
    for t in tests:
        print(
            f"\nPile-CC, chosen (nested) minus {t['against']}: rho difference {100 * t['rho_difference']:+.2f} "
            f"(95% CI {100 * t['ci95'][0]:+.2f} to {100 * t['ci95'][1]:+.2f}), one-sided paired bootstrap "
            f"{t['p_text']} (p = {t['p_value']:.4g}; the smallest p of {config.n_bootstrap} resamples is "
            f"{t['p_floor']:.4g})"
        )
    print("Choices per outer fold (Pile-CC): " + ", ".join(cc["choices"]))
    print("Final choice per target: " + ", ".join(f"{short(r['target'])}={r['chosen']}" for r in results))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
