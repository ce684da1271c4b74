"""The final report: DVC metrics, DVC plot data and a readable markdown summary with figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluation.bootstrap import correlation
from ..files import read_json, write_json, write_text
from ..large_models import LargeModel
from . import figures


def load_large(large_dir: str | Path, models: list[LargeModel]) -> dict[str, dict]:
    """`metrics.json` and the curves of each large model, by label (`<run>-<seed>`, `validation-<id>`)."""
    out = {}
    for m in models:
        d = Path(large_dir) / m.folder
        out[m.label] = {**read_json(d / "metrics.json"), "curves": pd.read_csv(d / "curves.csv")}
    return out


def load_scores(
    scores_dir: str | Path, models: list[LargeModel], target: str
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each model's summed NLL per target test document (by label), and the documents' predicted tokens (empty: no
    test split)."""
    nll, tokens = {}, np.zeros(0)
    for m in models:
        table = pd.read_csv(Path(scores_dir) / f"{m.folder}.csv")
        docs = table[table.domain == target].sort_values("document")
        nll[m.label] = docs.nll.to_numpy(dtype=float)
        tokens = docs.tokens.to_numpy(dtype=float)
    return (nll, tokens) if len(tokens) else ({}, tokens)


def load_downstream(evaluate_dir: str | Path, models: list[LargeModel]) -> dict[str, dict]:
    """The lm-eval results (`evaluate@<run>-<seed>`'s `results.json`, per task) of each run's models, by label."""
    return {
        m.label: read_json(Path(evaluate_dir) / m.folder / "results.json")["tasks"] for m in models if not m.validation
    }


def downstream_metrics(results: dict[str, dict], models: list[LargeModel]) -> dict[str, dict]:
    """{task: {metric: {run: mean over the run's seeds}}} for acc, acc_norm and lm-eval's standard errors, and the
    number of documents."""
    out: dict[str, dict] = {}
    for task in next(iter(results.values()), {}):
        entry = out[task] = {}
        for metric in ("acc", "acc_stderr", "acc_norm", "acc_norm_stderr"):
            per_run = by_run({k: r[task].get(metric, float("nan")) for k, r in results.items()}, models)
            entry[metric] = {run: float(np.mean(v)) for run, v in per_run.items()}
        entry["documents"] = int(next(iter(results.values()))[task].get("documents", 0))
    return out


def by_run(values: dict[str, object], models: list[LargeModel]) -> dict[str, list]:
    """{run: [value of each seed]} from {label: value}, runs and seeds in params.yaml's order (no validation)."""
    out: dict[str, list] = {}
    for m in models:
        if not m.validation:
            out.setdefault(m.run, []).append(values[m.label])
    return out


def transfer_check(predicted: dict[str, float], actual: dict[str, float], models: list[LargeModel]) -> dict:
    """The paper's proxy-to-large check: how the regression's predictions for the validation models' mixtures
    (held out: no proxy, fit or choice saw them) rank their large models' test losses (Spearman, Pearson, 95%
    bootstrap CIs over the models), and the rank of each run (mean over its seeds) among all large models.

    `predicted` and `actual` are by label; a run's seeds share one mixture, so one prediction.
    """
    held = [m.label for m in models if m.validation]
    stats = correlation([predicted[k] for k in held], [actual[k] for k in held])
    runs = {run: float(np.mean(v)) for run, v in by_run(actual, models).items()}
    everyone = sorted([actual[k] for k in held] + list(runs.values()))
    stats["rank"] = {run: 1 + everyone.index(loss) for run, loss in runs.items()}  # 1: the lowest test loss
    stats["of"] = len(everyone)
    return stats


def l1(a: dict[str, float], b: dict[str, float]) -> float:
    return sum(abs(a[d] - b.get(d, 0.0)) for d in a)


def build_metrics(
    fit: dict,
    large: dict[str, dict],
    models: list[LargeModel],
    target: str,
    optimal: dict[str, float],
    truth: dict[str, float] | None,
    test: dict | None = None,
    proxies: dict | None = None,
    transfer: dict | None = None,
    downstream: dict | None = None,
) -> dict:
    """The numbers `dvc metrics` and `dvc exp show` compare.

    `large` holds every large model's `metrics.json` by label; a run's figures are the means over its seeds.
    `proxies` ({"target_loss": the proxies' final target losses, "unigram": the unigram baseline's})
    shows whether the proxies learned more than token frequencies.

    With `test` (`paired_comparison` of the runs on the target's held-out test documents),
    the large models' losses and RegMix's differences are the test split's, with 95% CIs; without
    one they are the validation split's, which chose the mixture, and `large_scored_on` says so.
    `transfer` is `transfer_check`'s result on the test split, `downstream` `downstream_metrics`' (lm-eval).
    """
    chosen = fit["chosen"]
    valid = {run: float(np.mean(v)) for run, v in by_run({k: r["val_loss"][target] for k, r in large.items()},
                                                          models).items()}  # fmt: skip
    metrics = {
        "regression": {
            "target": fit["target"],
            "chosen": chosen,
            "nested_cv_spearman": fit["nested"]["cv_spearman"],  # the honest accuracy of choosing, then fitting
            **{f"{name}_cv_spearman": m["cv_spearman"] for name, m in fit["models"].items()},
        },
        "large_seeds": sorted({m.seed for m in models if not m.validation}),
        "large_valid_target_loss": valid,
    }
    if downstream:
        metrics["downstream"] = downstream
    if proxies:
        losses = np.asarray(proxies["target_loss"], dtype=float)
        metrics["proxy_target_loss"] = {
            "min": float(losses.min()),
            "median": float(np.median(losses)),
            "max": float(losses.max()),
            "unigram": proxies["unigram"],
            "above_unigram": int((losses >= proxies["unigram"]).sum()),  # proxies that learned no more than that
        }
    if test:
        metrics["large_scored_on"] = f"test ({test['documents']} held-out target documents)"
        metrics["large_target_loss"] = test["loss"]
        metrics["large_target_loss_ci95"] = test["loss_ci95"]
        metrics["large_target_loss_by_seed"] = test["loss_by_seed"]
        if "minus" in test:
            metrics["regmix_minus"] = test["minus"]
            metrics["regmix_minus_ci95"] = test["minus_ci95"]
        if "gap_closure" in test:
            metrics["gap_closure"] = test["gap_closure"]
            metrics["gap_closure_ci95"] = test["gap_closure_ci95"]
        if transfer:
            metrics["transfer"] = transfer
        return _with_l1(metrics, optimal, truth)
    metrics["large_scored_on"] = "valid (no test split: the data that chose the mixture)"
    metrics["large_target_loss"] = valid
    if "regmix" in valid:
        metrics["regmix_minus"] = {name: valid["regmix"] - v for name, v in valid.items() if name != "regmix"}
    return _with_l1(metrics, optimal, truth)


def _with_l1(metrics: dict, optimal: dict[str, float], truth: dict[str, float] | None) -> dict:
    if truth:
        metrics["optimal_l1_to_truth"] = l1(optimal, truth)
    return metrics


def _ci(ci: list[float] | None, fmt: str = "+.4f") -> str:
    return f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]" if ci else ""


def _table(rows: list[list], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def summary_markdown(
    metrics: dict,
    fit: dict,
    mixtures: dict[str, dict[str, float]],
    large: dict[str, dict],
    models: list[LargeModel],
    target: str,
    n_proxies: int,
    tables: dict[str, pd.DataFrame],
) -> str:
    """A one-page summary of the run with the figures in `figures/`."""
    reg, nested = fit["models"], fit["nested"]
    band = tables["band"].set_index("domain")
    ols, pairs = tables["ols"], tables["interactions"]
    lines = [
        "# RegMix report",
        "",
        f"{n_proxies} proxy models; regression target `{fit['target']}`; chosen model **{fit['chosen']}**, "
        f"held-out Spearman rho **{nested['cv_spearman']:.4f}** (95% CI {nested['ci95'][0]:.4f} to "
        f"{nested['ci95'][1]:.4f}; "
        "nested k-fold cross-validation: the model choice is made inside each fold).",
        "",
        "## Regression (held-out, k-fold cross-validation on the proxies)",
        "",
        _table(
            [
                [
                    name,
                    f"{m['cv_spearman']:.4f}",
                    *(f"{x:.4f}" for x in m.get("ci95", [float("nan")] * 2)),
                    f"{m.get('pearson', float('nan')):.4f}",
                    f"{m.get('mse', float('nan')):.3g}",
                ]
                for name, m in reg.items()
            ],
            ["model", "Spearman rho", "CI low", "CI high", "Pearson r", "MSE"],
        ),
        "",
        "![predicted vs true](figures/predicted_vs_true.png)",
        "",
        "## Which domains matter",
        "",
        "OLS of the target loss on the domain weights (log-weights unless `regression.significance.log_weights` "
        f"is false; robust errors; p-values corrected for {len(ols)} domains):",
        "",
        _table(
            [
                [
                    r.domain,
                    f"{r.coef:+.4f}",
                    f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]",
                    f"{r.p_corrected:.3g}",
                    "yes" if r.significant else "",
                ]
                for r in ols.itertuples()
            ],
            ["domain", "coefficient", "95% CI", "corrected p", "significant"],
        ),
        "",
        "Significant pairwise interactions: "
        + (
            ", ".join(f"{r.domain_a} x {r.domain_b} ({r.coef:+.4f})" for r in pairs.itertuples() if r.significant)
            or "none"
        )
        + ".",
        "",
        "![domain correlations](figures/spearman_heatmap.png)",
        "",
        "## Mixtures",
        "",
        "The RegMix mixture is the mean of the top candidates of the simulation; the band is from refits on "
        "bootstrap resamples of the proxies.",
        "",
        _table(
            [
                [d]
                + [f"{m[d]:.3f}" for m in mixtures.values()]
                + [f"{band.loc[d, 'low']:.3f} to {band.loc[d, 'high']:.3f}"]
                for d in next(iter(mixtures.values()))
            ],
            ["domain", *mixtures, "RegMix band"],
        ),
        "",
        "![prior vs optimal](figures/mixture_band.png)",
        "",
        "![simulated losses](figures/simulated_losses.png)",
        "",
    ]
    if "optimal_l1_to_truth" in metrics:
        lines += [f"L1 distance of the RegMix mixture to the true w*: {metrics['optimal_l1_to_truth']:.3f}", ""]
    lines += [
        "![mixtures](figures/mixtures.png)",
        "",
        "## Large models",
        "",
        f"Scored on: **{metrics['large_scored_on']}**, {len(metrics['large_seeds'])} seed(s) per mixture "
        f"({', '.join(map(str, metrics['large_seeds']))}): a mixture's loss is the mean over its seeds, and the "
        "intervals are 95% paired bootstrap intervals over the documents and the seeds.",
        "",
        _table(
            [
                [
                    run,
                    f"{metrics['large_target_loss'][run]:.4f}",
                    _ci(metrics.get("large_target_loss_ci95", {}).get(run), ".4f"),
                    ", ".join(f"{x:.4f}" for x in metrics.get("large_target_loss_by_seed", {}).get(run, [])),
                    f"{metrics['large_valid_target_loss'][run]:.4f}",
                    f"{seeds[0]['tokens']:,}",
                ]
                for run, seeds in sorted(
                    by_run(large, models).items(), key=lambda kv: metrics["large_target_loss"][kv[0]]
                )
            ],
            [
                "mixture",
                f"{target} loss",
                "95% CI",
                "by seed",
                f"{target} valid loss (selection data)",
                "tokens",
            ],
        ),
        "",
    ]
    for name, diff in metrics.get("regmix_minus", {}).items():
        ci = metrics.get("regmix_minus_ci95", {}).get(name)
        verdict = ""
        if ci:
            verdict = " (RegMix better)" if ci[1] < 0 else " (RegMix worse)" if ci[0] > 0 else " (not resolved)"
        lines.append(f"- RegMix minus {name}: {diff:+.4f} {_ci(ci)}{verdict}")
    if "gap_closure" in metrics:
        lines += [
            "",
            f"Gap closure (L_prior - L_regmix) / (L_prior - L_truth): **{metrics['gap_closure']:.1%}** "
            f"{_ci(metrics['gap_closure_ci95'], '.1%')}: the share of the prior-to-w* gap that RegMix's mixture "
            "closes.",
        ]
    if t := metrics.get("transfer"):
        lines += ["", "## Transfer: do the proxies' rankings hold for large models?", ""]
        if "spearman" in t:
            lines.append(
                f"On {t['models']} large models trained on held-out random mixtures (`validation.runs`), the "
                f"regression's predicted loss against the large models' test loss: Spearman rho **{t['spearman']:.3f}**"
                f" {_ci(t.get('spearman_ci95'), '.3f')}, Pearson r {t['pearson']:.3f} "
                f"{_ci(t.get('pearson_ci95'), '.3f')} (95% bootstrap over the models)."
            )
        else:
            lines.append(f"{t['models']} validation models: too few for a correlation (set `validation.runs`).")
        ranks = ", ".join(f"{run} {k}" for run, k in sorted(t["rank"].items(), key=lambda kv: kv[1]))
        lines += ["", f"Rank by test loss among all {t['of']} large models (1: lowest): {ranks}.", ""]
        lines += ["![transfer](figures/transfer.png)"]
    for task, d in metrics.get("downstream", {}).items():
        lines += ["", f"## Downstream: `{task}` (lm-eval-harness, {d['documents']} documents)", ""]
        lines.append(
            _table(
                [
                    [run, f"{acc:.4f}", f"{d['acc_stderr'][run]:.4f}", f"{d['acc_norm'][run]:.4f}"]
                    for run, acc in sorted(d["acc"].items(), key=lambda kv: -kv[1])
                ],
                ["mixture", "accuracy", "stderr", "acc_norm"],
            )
        )
    lines += [
        "",
        "![large models](figures/large_models.png)",
        "",
        "## Proxies",
        "",
        *(
            [
                f"Final {target} validation loss of the proxies: {m['min']:.3f} to {m['max']:.3f} (median "
                f"{m['median']:.3f}); a unigram model of the training tokens gets {m['unigram']:.3f}.",
                "",
            ]
            if (m := metrics.get("proxy_target_loss"))
            else []
        ),
        "![proxy mixtures](figures/proxy_mixtures.png)",
        "",
        "![proxy curves](figures/proxy_curves.png)",
        "",
    ]
    return "\n".join(lines)


def write_report(
    out: str | Path,
    fit: dict,
    cv_predictions: pd.DataFrame,
    mixtures: dict[str, dict[str, float]],
    large: dict[str, dict],
    models: list[LargeModel],
    target: str,
    n_proxies: int,
    truth: dict[str, float] | None,
    extra_figures: dict[str, Path],
    tables: dict[str, pd.DataFrame],
    test: dict | None = None,
    proxies: dict | None = None,
    transfer: tuple[dict, list[dict]] | None = None,
    downstream: dict | None = None,
) -> dict:
    """Write `metrics.json`, `summary.md`, `figures/` and `plots/` under `out`; return the metrics.

    `transfer` is `transfer_check`'s result and its points ({label, kind, predicted, actual} per model)."""
    out = Path(out)
    stats, points = transfer or (None, [])
    metrics = build_metrics(fit, large, models, target, mixtures["regmix"], truth, test, proxies, stats, downstream)
    write_json(out / "metrics.json", metrics)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for name, path in extra_figures.items():
        shutil.copy(path, fig_dir / name)
    figures.mixture_bars(fig_dir / "mixtures.png", mixtures)
    figures.large_comparison(fig_dir / "large_models.png", mean_curves(large, models, target), target)
    plots = out / "plots"
    write_text(
        plots / "predicted_vs_true.csv",
        cv_predictions.rename(columns={"true": "actual", "prediction": "predicted"})[
            ["index", "actual", "predicted"]
        ].to_csv(index=False),
    )
    write_text(
        plots / "mixtures.csv",
        pd.DataFrame({"domain": list(mixtures["regmix"]), **{k: list(v.values()) for k, v in mixtures.items()}})
        .rename(columns={"regmix": "weight"})
        .to_csv(index=False),
    )
    write_text(plots / "transfer.csv", pd.DataFrame(points, columns=["label", "kind", "predicted", "actual"]).to_csv(
        index=False, float_format="%.6f"))  # fmt: skip
    if stats:
        figures.transfer(fig_dir / "transfer.png", points, stats, target)
    write_text(out / "summary.md", summary_markdown(metrics, fit, mixtures, large, models, target, n_proxies, tables))
    return metrics


def mean_curves(large: dict[str, dict], models: list[LargeModel], target: str) -> dict[str, list[tuple[int, float]]]:
    """Each run's target validation curve, the mean over its seeds at each evaluation step."""
    out = {}
    for run, seeds in by_run(large, models).items():
        curve = pd.concat([r["curves"][["step", target]] for r in seeds]).groupby("step")[target].mean()
        out[run] = list(zip(curve.index.tolist(), curve.tolist(), strict=True))
    return out
