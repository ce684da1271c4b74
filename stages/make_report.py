"""Stage 10: the report: DVC metrics, plot data, figures and a markdown summary."""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from regmix.evaluation.bootstrap import paired_comparison
from regmix.evaluation.unigram import unigram_loss
from regmix.files import read_json
from regmix.formats import loss_column, mixture_rows, read_mixture_yaml, read_mixtures_csv
from regmix.large_models import large_models
from regmix.regression.saved import load_model
from regmix.report import figures as report_figures
from regmix.report.report import (
    by_run,
    downstream_metrics,
    load_downstream,
    load_large,
    load_scores,
    transfer_check,
    write_report,
)
from regmix.stage import run_stage
from regmix.token_store import TokenStore


def main(args, params):
    store = TokenStore(args.tokens)
    domains, target = store.train_domains, params.domains.target
    fit = read_json(Path(args.regression) / "fit_report.json")
    models = large_models(params)
    trained = {m.label: read_mixture_yaml(m.mixture, domains) for m in models}  # what each model trained on
    mixtures = {run: seeds[0] for run, seeds in by_run(trained, models).items()}
    large = load_large(args.large, models)
    nll, tokens = load_scores(args.scores, models, target)
    test = transfer = None
    if nll:
        test = paired_comparison({run: np.stack(v) for run, v in by_run(nll, models).items()}, tokens, "regmix",
                                 seed=params.seed)  # fmt: skip
        regression = load_model(args.regression)
        predicted = {k: float(regression.predict(np.array([[w[d] for d in regression.domains]]))[0])
                     for k, w in trained.items()}  # fmt: skip
        actual = {k: float(v.sum() / tokens.sum()) for k, v in nll.items()}
        points = [{"label": m.run or m.label, "kind": "validation" if m.validation else "run",
                   "predicted": predicted[m.label], "actual": actual[m.label]} for m in models]  # fmt: skip
        transfer = (transfer_check(predicted, actual, models), points)
    truth = read_json(args.domains_meta).get("true_mixture")
    out_figures = Path(args.out) / "figures"
    proxy_mixtures = list(mixture_rows(read_mixtures_csv(Path(args.mixtures) / "mixtures.csv", domains)).values())
    report_figures.mixture_distributions(out_figures / "proxy_mixtures.png", proxy_mixtures, store.prior())
    curves = pd.read_csv(Path(args.proxies) / "curves.csv")
    unigram = unigram_loss(store, target)
    report_figures.proxy_curves(
        out_figures / "proxy_curves.png",
        {i: list(zip(g["step"], g[target], strict=True)) for i, g in curves.groupby("index")},
        target,
        unigram,
    )
    figures = {
        p.name: p for d in (Path(args.regression), Path(args.simulation)) for p in sorted(d.glob("figures/*.png"))
    }
    tables = {
        "ols": pd.read_csv(Path(args.regression) / "ols.csv"),
        "interactions": pd.read_csv(Path(args.regression) / "interactions.csv"),
        "band": pd.read_csv(Path(args.simulation) / "band.csv"),
    }
    losses = pd.read_csv(Path(args.proxies) / "losses.csv")
    proxies = {"target_loss": losses[loss_column(target)], "unigram": unigram}
    metrics = write_report(
        args.out,
        fit,
        pd.read_csv(Path(args.regression) / "cv_predictions.csv"),
        mixtures,
        large,
        models,
        target,
        len(losses),
        truth,
        figures,
        tables,
        test,
        proxies,
        transfer,
        downstream_metrics(load_downstream(args.evaluate, models), models),
    )
    print({name: round(v, 4) for name, v in metrics["large_target_loss"].items()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    for name in (
        "--proxies",
        "--mixtures",
        "--regression",
        "--simulation",
        "--large",
        "--scores",
        "--evaluate",
        "--tokens",
        "--domains-meta",
        "--out",
    ):
        parser.add_argument(name, required=True)
    run_stage(main, parser)
