"""The final report: DVC metrics, DVC plot data and a readable markdown summary with figures."""

from __future__ import annotations

import shutil
from pathlib import Path

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


def l1(a: dict[str, float], b: dict[str, float]) -> float:
    return sum(abs(a[d] - b.get(d, 0.0)) for d in a)


def build_metrics(
    fit: dict, large: dict[str, dict], target: str, optimal: dict[str, float], truth: dict[str, float] | None
) -> dict:
    """The numbers `dvc metrics` and `dvc exp show` compare."""
    chosen = fit["chosen"]
    metrics = {
        "regression": {
            "target": fit["target"],
            "chosen": chosen,
            "nested_cv_spearman": fit["nested"]["cv_spearman"],  # the honest accuracy of choosing, then fitting
            **{f"{name}_cv_spearman": m["cv_spearman"] for name, m in fit["models"].items()},
        },
        "large_target_loss": {name: r["val_loss"][target] for name, r in large.items()},
    }
    if "regmix" in large:
        ours = large["regmix"]["val_loss"][target]
        metrics["regmix_minus"] = {name: ours - r["val_loss"][target] for name, r in large.items() if name != "regmix"}
    if truth:
        metrics["optimal_l1_to_truth"] = l1(optimal, truth)
    return metrics


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
        _table(
            [
                [
                    name,
                    f"{r['val_loss'][target]:.4f}",
                    f"{sum(r['val_loss'].values()) / len(r['val_loss']):.4f}",
                    f"{r['tokens']:,}",
                    r["seconds"],
                ]
                for name, r in sorted(large.items(), key=lambda kv: kv[1]["val_loss"][target])
            ],
            ["mixture", f"{target} loss", "mean loss (all domains)", "tokens", "seconds"],
        ),
        "",
    ]
    if "regmix_minus" in metrics:
        lines += [
            f"RegMix minus {name}: {diff:+.4f}"
            + (
                "  (the gap to the model trained on the target's true mixture w*; negative: RegMix's mixture did "
                "better)"
                if name == "truth"
                else ""
            )
            for name, diff in metrics["regmix_minus"].items()
        ]
        lines.append("")
    lines += [
        "![large models](figures/large_models.png)",
        "",
        "## Proxies",
        "",
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
) -> dict:
    """Write `metrics.json`, `summary.md`, `figures/` and `plots/` under `out`; return the metrics."""
    out = Path(out)
    metrics = build_metrics(fit, large, target, mixtures["regmix"], truth)
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
