"""The final report: DVC metrics, DVC plot data and a readable markdown summary with figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import read_json, write_json, write_text
from . import figures


def load_large(large_dir: str | Path, runs: list[str]) -> dict[str, dict]:
    """`metrics.json` and the curves of each large-model run."""
    out = {}
    for name in runs:
        d = Path(large_dir) / name
        out[name] = {**read_json(d / "metrics.json"), "curves": pd.read_csv(d / "curves.csv")}
    return out


def load_scores(scores_dir: str | Path, runs: list[str], target: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The runs' summed NLL per target test document, and the documents' predicted tokens (empty: no test split)."""
    nll, tokens = {}, np.zeros(0)
    for name in runs:
        table = pd.read_csv(Path(scores_dir) / f"{name}.csv")
        docs = table[table.domain == target].sort_values("document")
        nll[name] = docs.nll.to_numpy(dtype=float)
        tokens = docs.tokens.to_numpy(dtype=float)
    return (nll, tokens) if len(tokens) else ({}, tokens)


def l1(a: dict[str, float], b: dict[str, float]) -> float:
    return sum(abs(a[d] - b.get(d, 0.0)) for d in a)


def build_metrics(
    fit: dict,
    large: dict[str, dict],
    target: str,
    optimal: dict[str, float],
    truth: dict[str, float] | None,
    test: dict | None = None,
    proxies: dict | None = None,
) -> dict:
    """The numbers `dvc metrics` and `dvc exp show` compare.

    `proxies` ({"target_loss": the proxies' final target losses, "unigram": the unigram baseline's})
    shows whether the proxies learned more than token frequencies.

    With `test` (`paired_comparison` of the large models on the target's held-out test documents),
    the large models' losses and RegMix's differences are the test split's, with 95% CIs; without
    one they are the validation split's, which chose the mixture, and `large_scored_on` says so.
    """
    chosen = fit["chosen"]
    metrics = {
        "regression": {
            "target": fit["target"],
            "chosen": chosen,
            "nested_cv_spearman": fit["nested"]["cv_spearman"],  # the honest accuracy of choosing, then fitting
            **{f"{name}_cv_spearman": m["cv_spearman"] for name, m in fit["models"].items()},
        },
        "large_valid_target_loss": {name: r["val_loss"][target] for name, r in large.items()},
    }
    if proxies:
        losses = np.asarray(proxies["target_loss"], dtype=float)
        metrics["proxy_target_loss"] = {
            "min": float(losses.min()),
            "median": float(np.median(losses)),
            "max": float(losses.max()),
            "unigram": proxies["unigram"],
        }
    if test:
        metrics["large_scored_on"] = f"test ({test['documents']} held-out target documents)"
        metrics["large_target_loss"] = test["loss"]
        metrics["large_target_loss_ci95"] = test["loss_ci95"]
        if "minus" in test:
            metrics["regmix_minus"] = test["minus"]
            metrics["regmix_minus_ci95"] = test["minus_ci95"]
        if "gap_closure" in test:
            metrics["gap_closure"] = test["gap_closure"]
            metrics["gap_closure_ci95"] = test["gap_closure_ci95"]
        return _with_l1(metrics, optimal, truth)
    metrics["large_scored_on"] = "valid (no test split: the data that chose the mixture)"
    metrics["large_target_loss"] = metrics["large_valid_target_loss"]
    if "regmix" in large:
        ours = large["regmix"]["val_loss"][target]
        metrics["regmix_minus"] = {name: ours - r["val_loss"][target] for name, r in large.items() if name != "regmix"}
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
        f"Scored on: **{metrics['large_scored_on']}**. The intervals are 95% paired bootstrap intervals over those "
        "documents (one seed per mixture).",
        "",
        _table(
            [
                [
                    name,
                    f"{metrics['large_target_loss'][name]:.4f}",
                    _ci(metrics.get("large_target_loss_ci95", {}).get(name)),
                    f"{r['val_loss'][target]:.4f}",
                    f"{r['tokens']:,}",
                    r["seconds"],
                ]
                for name, r in sorted(large.items(), key=lambda kv: metrics["large_target_loss"][kv[0]])
            ],
            ["mixture", f"{target} loss", "95% CI", f"{target} valid loss (selection data)", "tokens", "seconds"],
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
    target: str,
    n_proxies: int,
    truth: dict[str, float] | None,
    extra_figures: dict[str, Path],
    tables: dict[str, pd.DataFrame],
    test: dict | None = None,
    proxies: dict | None = None,
) -> dict:
    """Write `metrics.json`, `summary.md`, `figures/` and `plots/` under `out`; return the metrics."""
    out = Path(out)
    metrics = build_metrics(fit, large, target, mixtures["regmix"], truth, test, proxies)
    write_json(out / "metrics.json", metrics)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for name, path in extra_figures.items():
        shutil.copy(path, fig_dir / name)
    figures.mixture_bars(fig_dir / "mixtures.png", mixtures)
    figures.large_comparison(
        fig_dir / "large_models.png",
        {n: list(zip(r["curves"]["step"], r["curves"][target], strict=True)) for n, r in large.items()},
        target,
    )
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
    write_text(out / "summary.md", summary_markdown(metrics, fit, mixtures, large, target, n_proxies, tables))
    return metrics
