"""README.md's figures from the files that hold them: tables rendered from results, inline figures checked.

    python benchmarks/readme_tables.py            # check README.md; exit 1 naming every figure that differs
    python benchmarks/readme_tables.py --write    # regenerate README.md's figures from the files that exist

Two kinds of figure:

- Blocks: README.md text between `<!-- table: FILE -->` and `<!-- /table -->` is rendered from FILE
  (relative to the repository) by the renderer in `RENDERERS` that matches FILE's name, and must
  equal it. FILE is a results file a script in `benchmarks/` writes and the repository commits
  (`benchmarks/results/*.json`) or the pipeline's own `reports/metrics.json`.
- Inline figures (`FIGURES`): a README phrase (a regular expression whose groups are the figures;
  a space matches any whitespace, so phrases may wrap) and the function that writes those figures
  from FILE's content. Every match of the phrase must show them, and the phrase must be in README.md,
  so rewording it means updating `FIGURES` too.

A FILE that does not exist yet (a benchmark not run, `dvc repro` not run) is reported as skipped
with the command that makes it; `--write` leaves its figures as they are. Updating a figure is:
rerun its benchmark (or `dvc repro`), `python benchmarks/readme_tables.py --write`, commit both.
`tests/test_readme_figures.py` runs the check.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import math
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:  # regmix, when run from a checkout without `pip install -e .`
    sys.path.append(str(REPO / "src"))
WIDTH = 110  # README.md's prose lines
BLOCK = re.compile(r"<!-- table: (?P<source>\S+) -->\n(?P<body>.*?)<!-- /table -->", re.S)

# The command that makes each results file, for the message when it is missing.
MAKERS = {
    "benchmarks/results/regression_benchmark.json": "OPENBLAS_NUM_THREADS=1 python benchmarks/regression_benchmark.py",
    "benchmarks/results/pipeline_timing_default.json": "python benchmarks/pipeline_timing.py --fresh-venv",
    # the run before the uv install and the smaller large models
    "benchmarks/results/pipeline_timing_default_before.json": "git show e5993a9:benchmarks/results/"
    "pipeline_timing_default.json",
    "benchmarks/results/pipeline_timing_default_slow.json": "git show 8c0ff06:benchmarks/results/"
    "pipeline_timing_default.json",
    # the common-language default with 300 test documents per domain
    "benchmarks/results/pipeline_timing_default_test300.json": "git show 0b01237:benchmarks/results/"
    "pipeline_timing_default.json",
    "benchmarks/results/pipeline_timing_validate_test300.json": "python benchmarks/pipeline_timing.py --name validate "
    "--out benchmarks/results/pipeline_timing_validate_test300.json $(python -m regmix.profiles validate) "
    "-S domains.synthetic.test_docs=300",
    "benchmarks/results/pipeline_timing_512.json": "python benchmarks/pipeline_timing.py --name 512 "
    "$(python -m regmix.profiles tiny) -S 'sweep.shards=[0,...,15]' -S sweep.shard_size=32",
    "benchmarks/results/ci_timing.json": "python benchmarks/ci_timing.py",
    "benchmarks/results/dvc_overhead.json": "dvc repro && python benchmarks/dvc_overhead.py",
    "benchmarks/results/gpu_proxy_throughput_h100.json": "python benchmarks/gpu_proxy_throughput.py --compile "
    "--stack 1 4 16 --batch-size 512 --steps 1   # on an H100",
    "benchmarks/results/tokenize_throughput.json": "python benchmarks/tokenize_throughput.py --sizes-mb 512 "
    "--workers 1 2",
    "benchmarks/results/tokenize_throughput_2gb.json": "python benchmarks/tokenize_throughput.py --sizes-mb 2048 "
    "--workers 2 --kill --out benchmarks/results/tokenize_throughput_2gb.json",
    "reports/metrics.json": "dvc repro   # then commit reports/metrics.json",
    "benchmarks/results/pipeline_timing_validate.json": "python benchmarks/pipeline_timing.py --name validate "
    "--metrics-out /tmp/metrics_validate.json $(python -m regmix.profiles validate)",
    "benchmarks/results/large_parallelism.json": "python benchmarks/large_parallelism.py",
    "benchmarks/results/proxy_tuning.json": "dvc exp run -S proxy.train.batch_size=8 && "
    "python benchmarks/valid_scores.py --label 'batch 8'   # one entry per setting tried",
    "benchmarks/results/proxy_count.json": "dvc repro --glob 'large@*' && python benchmarks/valid_scores.py "
    "--label '144 proxies, 3 shards (kept)' --out benchmarks/results/proxy_count.json   # a row per sweep",
    "benchmarks/results/corpus_tuning.json": "dvc repro --glob 'large@*' && python benchmarks/valid_scores.py "
    "--label '144 proxies, common_share 0.2 (the new default)' --out benchmarks/results/corpus_tuning.json",
    "benchmarks/results/composite_tuning.json": "dvc exp run -S 'regression.candidates=[composite]' && "
    "python benchmarks/valid_scores.py --label 'composite (gp, gp_sqrt)' "
    "--out benchmarks/results/composite_tuning.json",
}


# ---------------------------------------------------------------- formats


def minsec(seconds: float) -> str:
    """`6 min 46 s`, or `52 s` under a minute."""
    s = round(seconds)
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def wrap(text: str) -> str:
    """A paragraph wrapped as README.md's prose is (code spans and ranges kept whole)."""
    return textwrap.fill(text, WIDTH, break_on_hyphens=False, break_long_words=False)


def rho100(x: float) -> str:
    return f"{100 * x:.2f}"


def signed100(x: float) -> str:
    return f"{100 * x:+.2f}"


def step(doc: dict, label: str) -> dict:
    """The step of a pipeline-timing results file with this label."""
    for s in doc["steps"]:
        if s["label"] == label:
            return s
    raise KeyError(f"no step {label!r} in the results (steps: {', '.join(s['label'] for s in doc['steps'])})")


def n_proxies(params: dict) -> int:
    return len(params["sweep"]["shards"]) * params["sweep"]["shard_size"]


# ---------------------------------------------------------------- block renderers


def render_regression(d: dict, source: str) -> str:
    """README's table of `benchmarks/regression_benchmark.py`'s results, with its settings and the paired test."""
    s, m, v = d["settings"], d["machine"], d["versions"]
    reg = s["lightgbm_reg"]
    threads = ", ".join(f"{k}={x}" for k, x in m["threads_env"].items()) or "no thread limit set"
    load = m.get("load_average_at_start")
    caption = (
        f"{s['folds']}-fold CV (inner {s['inner_folds']}-fold for the choice) on the paper's {s['n_rows']} runs; "
        f"Spearman rho x 100 with a bootstrap 95% CI ({s['n_bootstrap']:,} resamples), and its mean over "
        f"{len(s['targets'])} loss targets; fit and simulation times on a {m['usable_cores']}-core machine "
        f"({threads}{f', load average {load[0]} at the start' if load else ''}). `lightgbm_reg`: "
        f"{reg['n_estimators']} rounds at learning rate {reg['learning_rate']}, {reg['num_leaves']} leaves, "
        f"{reg['min_child_samples']} rows per leaf, row and feature fractions {reg['subsample']} and "
        f"{reg['colsample']}. LightGBM {v['lightgbm']}, scikit-learn {v['scikit-learn']}; measured "
        f"{d['date'][:10]} (`{source}`):"
    )
    lines = [
        wrap(caption),
        "",
        f"| model | Pile-CC rho (95% CI) | mean rho, {len(s['targets'])} targets | fit s ({s['n_rows']} rows) "
        f"| simulate {s['n_candidates']:,} s |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "linear": "linear (paper)",
        "lightgbm": "lightgbm (paper)",
        "ensemble": f"ensemble ({', '.join(s['ensemble_members'])})",
    }
    for r in d["models"]:
        lo, hi = r["pile_cc"]["ci95"]
        cells = [f"{rho100(r['pile_cc']['rho'])} ({rho100(lo)}-{rho100(hi)})", rho100(r["mean_rho"])]
        if r["name"] == "chosen":
            label = f"**chosen by nested CV** (final: {r['final_model']})"
            cells = [f"**{c}**" for c in cells]
        else:
            label = labels.get(r["name"], r["name"])
        lines.append(f"| {label} | {' | '.join(cells)} | {r['fit_s']:.2f} | {r['simulate_s']:.1f} |")
    t = next(t for t in d["paired_tests"] if t["against"] == "lightgbm")
    floor = (
        f" (no resample of {s['n_bootstrap']:,} favoured LightGBM: the smallest p-value {s['n_bootstrap']:,} "
        f"resamples can give is 1/{s['n_bootstrap'] + 1:,})"
        if t["at_floor"]
        else ""
    )
    lines += [
        "",
        wrap(
            f"The chosen model minus the paper's LightGBM on Pile-CC: {signed100(t['rho_difference'])} rho (95% CI "
            f"{signed100(t['ci95'][0])} to {signed100(t['ci95'][1])}), one-sided paired bootstrap {t['p_text']}{floor}."
        ),
    ]
    return "\n".join(lines) + "\n"


GPU_LABELS = {
    "fp32-eager": "fp32 eager",
    "bf16-eager": "bf16 eager",
    "bf16-compile": "bf16 + torch.compile",
    "stacked-eager": "stacked eager",
    "stacked-compile": "stacked + compile",
}


def render_gpu(d: dict, source: str) -> str:
    """README's table of `benchmarks/gpu_proxy_throughput.py`'s results."""
    caption = (
        f"Measured on one {d['device']} (torch {d['torch']}, measured bf16 rate {d['peak_flops'] / 1e12:.1f} "
        f"TFLOP/s; FLOPs/token {d['flops_per_token'] / 1e6:.1f}M with full-square attention)"
    )
    if d.get("provenance"):
        caption += (
            f"; date unknown: an earlier session's figures, transcribed into `{source}` (its `provenance` says how), "
            "not rerun since:"
        )
    else:
        caption += f", {d['date'][:10]} (`{source}`):"
    best = max(r["mfu"] for r in d["rows"])
    lines = [wrap(caption), "", "| variant | K | tokens/s (all proxies) | MFU % |", "|---|---|---|---|"]
    for r in d["rows"]:
        mfu = f"{100 * r['mfu']:.1f}"
        lines.append(
            f"| {GPU_LABELS.get(r['variant'], r['variant'])} | {r['k']} | {r['tokens_per_s']:,.0f} "
            f"| {f'**{mfu}**' if r['mfu'] == best else mfu} |"
        )
    return "\n".join(lines) + "\n"


LARGE_LABELS = {
    "regmix": "RegMix",
    "prior": 'token prior ("human")',
    "uniform": "uniform",
    "truth": "w* (the target's true mixture)",
}


def render_large_losses(d: dict, source: str) -> str:
    """README's table of the default pipeline's large models, from `reports/metrics.json` (with the held-out
    intervals and the downstream accuracy when the metrics have them)."""
    if "large_target_loss_ci95" not in d:
        lines = ["| mixture | target loss |", "|---|---|"]
        lines += [f"| {LARGE_LABELS.get(k, k)} | {x:.3f} |" for k, x in d["large_target_loss"].items()]
        return "\n".join(lines) + "\n"
    task = next(iter(d.get("downstream", {})), None)
    header = "| mixture | target test loss | 95% CI | RegMix minus it | 95% CI |"
    rule = "|---|---|---|---|---|"
    if task:
        header += f" `{task}` accuracy |"
        rule += "---|"
    lines = [header, rule]
    for k, x in d["large_target_loss"].items():
        lo, hi = d["large_target_loss_ci95"][k]
        diff = d.get("regmix_minus", {}).get(k)
        dlo, dhi = d.get("regmix_minus_ci95", {}).get(k, (None, None))
        minus = f"{diff:+.4f} | [{dlo:+.4f}, {dhi:+.4f}]" if diff is not None else " | "
        row = f"| {LARGE_LABELS.get(k, k)} | {x:.4f} | [{lo:.4f}, {hi:.4f}] | {minus} |"
        if task:
            acc = d["downstream"][task]
            row += f" {acc['acc'][k]:.3f} ± {acc['acc_stderr'][k]:.3f} |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def render_validate(d: dict, source: str) -> str:
    """README's table of the `validate` profile's large models (3 seeds each), from its timing run's metrics."""
    return render_large_losses(d["metrics"], source)


def render_stage_times(d: dict, source: str) -> str:
    """README's table of where the default's `dvc repro` from scratch spends its time, grouped by stage kind."""
    scratch = step(d, "dvc repro (from scratch)")
    groups: dict[str, list[float]] = {}
    for stage, sec in scratch["stage_s"].items():
        groups.setdefault(stage.split("@")[0] + ("@*" if "@" in stage else ""), []).append(sec)
    total = sum(scratch["stage_s"].values())
    lines = ["| stage | runs | wall s | share |", "|---|---|---|---|"]
    for name, secs in sorted(groups.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"| `{name}` | {len(secs)} | {sum(secs):.0f} | {sum(secs) / total:.0%} |")
    return "\n".join(lines) + "\n"


def render_parallelism(d: dict, source: str) -> str:
    """README's table of the default large model trained three ways on 2 cores."""
    lines = ["| way | s per model | speed-up |", "|---|---|---|"]
    lines += [f"| {w['way']} | {w['s_per_model']:.1f} | {w['speedup']:.2f} |" for w in d["ways"]]
    return "\n".join(lines) + "\n"


def render_tuning(d: dict, source: str = "") -> str:
    """README's tables of the settings tried (proxies, regression), scored on the target's validation documents."""
    lines = [
        "| setting | RegMix | prior | uniform | w* | gap closure on valid | 95% CI | L1 to w* | rho |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in d["entries"]:
        v, (lo, hi) = e["valid_loss"], e["valid_gap_closure_ci95"]
        lines.append(
            f"| {e['label']} | {v['regmix']:.4f} | {v['prior']:.4f} | {v['uniform']:.4f} | {v['truth']:.4f} "
            f"| {e['valid_gap_closure']:.0%} | {lo:.0%} to {hi:.0%} | {e['l1_to_truth']:.2f} "
            f"| {e['regression']['nested_cv_spearman']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def render_tokenize(d: dict, source: str) -> str:
    """README's table of the tokenize benchmark: throughput, memory and the ratio to bare `encode_batch`."""
    lines = [
        "| corpus | workers | MB/s | tokens/s | peak RSS | / bare `encode_batch` per worker | / bare in as many "
        "processes | speed-up | 1 TB on 64 cores |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in d["runs"]:
        one = next((o for o in d["runs"] if o["size_mb"] == r["size_mb"] and o["workers"] == 1), None)
        speedup = f"{r['mb_per_s'] / one['mb_per_s']:.2f}x" if one and r is not one else ""
        lines.append(
            f"| {r['bytes'] / 2**20:,.0f} MB, {r['files']} files | {r['workers']} | {r['mb_per_s']:.2f} "
            f"| {r['tokens_per_s']:,} | {r['peak_rss_mb']:,} MB | {r['ratio_per_worker']:.2f} "
            f"| {r['ratio_to_bare_in_parallel']:.2f} | {speedup} "
            f"| {r['projected_1tb_64_cores_h']:.1f} h |"
        )
    k = d.get("kill_and_resume")
    if k:
        lines.append("")
        lines.append(
            wrap(
                f"Killed (SIGKILL) after {k['finished_before_kill']} of {k['files']} files and rerun: "
                f"{k['rerun_reused']} files reused, {k['rerun_encoded']} encoded; finished files untouched: "
                f"{'yes' if k['finished_files_untouched'] else 'NO'}; output identical to the uninterrupted "
                f"run's: {'yes' if k['identical_to_uninterrupted'] else 'NO'}."
            )
        )
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[dict, str], str]] = {
    "benchmarks/results/tokenize_throughput*.json": render_tokenize,
    "benchmarks/results/regression_benchmark.json": render_regression,
    "benchmarks/results/gpu_proxy_throughput_*.json": render_gpu,
    "reports/metrics.json": render_large_losses,
    "benchmarks/results/pipeline_timing_default*.json": render_stage_times,  # *_before.json: an earlier run
    "benchmarks/results/pipeline_timing_validate.json": render_validate,
    "benchmarks/results/large_parallelism.json": render_parallelism,
    "benchmarks/results/proxy_tuning.json": render_tuning,
    "benchmarks/results/composite_tuning.json": render_tuning,
    "benchmarks/results/proxy_count.json": render_tuning,
    "benchmarks/results/corpus_tuning.json": render_tuning,
}


def renderer(source: str) -> Callable[[dict, str], str]:
    for pattern, fn in RENDERERS.items():
        if fnmatch.fnmatchcase(source, pattern):
            return fn
    raise KeyError(f"no renderer for {source} (known: {', '.join(RENDERERS)})")


# ---------------------------------------------------------------- inline figures

MINSEC = r"(\d+ min \d+ s|\d+ s)"


@dataclass(frozen=True)
class Figure:
    """An inline figure: `pattern`'s groups in README.md are `value(content of source)`."""

    pattern: str  # a space matches any whitespace (phrases wrap); one group per figure
    source: str  # relative to the repository; params.yaml is read with its defaults filled in
    value: Callable[[dict], str | tuple[str, ...]]

    def regex(self) -> re.Pattern:
        return re.compile(self.pattern.replace(" ", r"\s+"))

    def values(self, content: dict) -> tuple[str, ...]:
        v = self.value(content)
        return v if isinstance(v, tuple) else (v,)


PIPE = "benchmarks/results/pipeline_timing_default.json"
PIPE_BEFORE = "benchmarks/results/pipeline_timing_default_before.json"
PIPE_SLOW = "benchmarks/results/pipeline_timing_default_slow.json"  # the same default, on a slower host
VALIDATE = "benchmarks/results/pipeline_timing_validate.json"
# the common-language default and its validate profile with 300 test documents per domain (before 600)
PIPE_300 = "benchmarks/results/pipeline_timing_default_test300.json"
VALIDATE_300 = "benchmarks/results/pipeline_timing_validate_test300.json"
TESTS = "benchmarks/results/ci_timing.json"
DVC_OVERHEAD = "benchmarks/results/dvc_overhead.json"
METRICS = "reports/metrics.json"
PARAMS = "params.yaml"
PAPER = "profiles/paper.yaml"
REGRESSION = "benchmarks/results/regression_benchmark.json"
CONFIGS = {PARAMS, PAPER}  # committed configuration, not made by a benchmark


def exp(x: float) -> str:
    """`2e-4` for 0.0002."""
    mantissa, power = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(power)}"


def valid_gap_closure(loss: dict) -> float:
    """The gap closure on the validation documents (the ones that chose the mixture)."""
    return (loss["prior"] - loss["regmix"]) / (loss["prior"] - loss["truth"])


def transfer_figures(t: dict) -> tuple[str, ...]:
    """The number of validation models, then Spearman and Pearson, each with its 95% interval."""
    return (str(t["models"]), *(f"{x:.3f}" for k in ("spearman", "pearson") for x in (t[k], *t[k + "_ci95"])))


def steps_of(train: dict) -> int:
    """Optimizer steps of a training config: tokens / (batch x block)."""
    return train["train"]["tokens"] // (train["train"]["batch_size"] * train["model"]["block_size"])


FIGURES = [
    # Set up and run
    Figure(
        r"on the embedded default \(" + MINSEC + r" measured from a fresh clone and a fresh venv on (\d+) CPU cores, "
        r"of which (\d+) s for the install",
        PIPE,
        lambda d: (
            minsec(d["first_results_s"]),
            str(d["machine"]["usable_cores"]),
            f"{step(d, 'venv + install (README)')['wall_s']:.0f}",
        ),
    ),
    Figure(r"that loop took (\d\.\d\d) s on this one", PIPE, lambda d: f"{d['machine']['cpu_probe_s']:.2f}"),
    Figure(
        r"on the host of an earlier measurement it took (\d\.\d\d) s, and the default of that time \((\d+) proxies, "
        r"a third of today's\) took " + MINSEC,
        PIPE_SLOW,
        lambda d: (f"{d['machine']['cpu_probe_s']:.2f}", str(d["n_proxies"]), minsec(d["first_results_s"])),
    ),
    Figure(
        r"runs the second command: (\d+) tests pass, (\d+) skipped without a GPU, in " + MINSEC + r" on (\d+) cores",
        TESTS,
        lambda d: (str(d["passed"]), str(d["skipped"]), minsec(d["wall_s"]), str(d["machine"]["usable_cores"])),
    ),
    Figure(
        r"After, on the same host \(at commit b245413: " + MINSEC + r", of which (\d+) s for the install",
        PIPE_SLOW,
        lambda d: (minsec(d["first_results_s"]), f"{step(d, 'venv + install (README)')['wall_s']:.0f}"),
    ),
    Figure(r"of which pytest takes " + MINSEC, TESTS, lambda d: minsec(d["pytest_s"])),
    Figure(
        r"whose CPU probe took (\d\.\d\d) s; on the slower host", TESTS, lambda d: f"{d['machine']['cpu_probe_s']:.2f}"
    ),
    Figure(
        r"measured at commit ccafed9: " + MINSEC + r", of which (\d+) s for `pip install -r requirements.txt`",
        PIPE_BEFORE,
        lambda d: (minsec(d["first_results_s"]), f"{step(d, 'venv + pip install -r requirements.txt')['wall_s']:.0f}"),
    ),
    Figure(
        r"its first proxy was done (\d+\.\d) s after the `proxies@0` stage started, against (\d+\.\d) s per proxy "
        r"per worker after that, so the shard pays (\d+\.\d) s before",
        PIPE,
        lambda d: tuple(
            f"{d['proxy_latency']['proxies@0'][k]:.1f}" for k in ("first_s", "per_worker_s", "first_excess_s")
        ),
    ),
    Figure(r"the no-op rerun \((\d+\.\d) s\)", PIPE, lambda d: f"{step(d, 'dvc repro (no-op)')['wall_s']:.1f}"),
    Figure(
        r"`dvc status` takes (\d+\.\d) s instead of (\d+\.\d) s, and DVC's own time around each stage it runs is "
        r"(\d+\.\d\d) s instead of (\d+\.\d\d) s",
        DVC_OVERHEAD,
        lambda d: (
            f"{d['median_s']['c']['status']:.1f}",
            f"{d['median_s']['python']['status']:.1f}",
            f"{d['dvc_per_stage_s']['c']:.2f}",
            f"{d['dvc_per_stage_s']['python']:.2f}",
        ),
    ),
    # What the default gives
    Figure(
        r"the chosen regression \(`(\w+)`\) has a held-out Spearman rho of (\d\.\d{3}) on",
        METRICS,
        lambda d: (d["regression"]["chosen"], f"{d['regression']['nested_cv_spearman']:.3f}"),
    ),
    Figure(
        r"it closes (\d+)% of the prior-to-w\* gap \(95% CI (\d+) to (\d+)%\)",
        METRICS,
        lambda d: tuple(f"{100 * x:.0f}" for x in (d["gap_closure"], *d["gap_closure_ci95"])),
    ),
    Figure(
        r"[Tt]he proxies end at target losses of (\d\.\d\d) to (\d\.\d\d) nats \(median (\d\.\d\d)\), against "
        r"(\d\.\d\d) for a unigram model",
        METRICS,
        lambda d: tuple(f"{d['proxy_target_loss'][k]:.2f}" for k in ("min", "max", "median", "unigram")),
    ),
    Figure(
        r"on the validation documents that chose it, (\d+)%",
        METRICS,
        lambda d: f"{100 * valid_gap_closure(d['large_valid_target_loss']):.0f}",
    ),
    Figure(
        r"the proxies at or above it: (\d+), and the worst ends (-?\d\.\d\d) nats below it",
        METRICS,
        lambda d: (
            str(d["proxy_target_loss"]["above_unigram"]),
            f"{d['proxy_target_loss']['unigram'] - d['proxy_target_loss']['max']:.2f}",
        ),
    ),
    Figure(
        r"RegMix minus uniform was (-?\d\.\d\d\d) nats, 95% CI (-?\d\.\d\d\d) to \+?(-?\d\.\d\d\d) on one seed",
        PIPE_300,
        lambda d: tuple(
            f"{x:.3f}" for x in (d["metrics"]["regmix_minus"]["uniform"], *d["metrics"]["regmix_minus_ci95"]["uniform"])
        ),
    ),
    Figure(
        r"and (-?\d\.\d\d\d), (-?\d\.\d\d\d) to \+?(-?\d\.\d\d\d) over the `validate` profile's three seeds",
        VALIDATE_300,
        lambda d: tuple(
            f"{x:.3f}" for x in (d["metrics"]["regmix_minus"]["uniform"], *d["metrics"]["regmix_minus_ci95"]["uniform"])
        ),
    ),
    Figure(
        r"RegMix minus uniform is (-?\d\.\d\d\d) nats, an interval from (-?\d\.\d\d\d) to \+?(-?\d\.\d\d\d)",
        METRICS,
        lambda d: tuple(f"{x:.3f}" for x in (d["regmix_minus"]["uniform"], *d["regmix_minus_ci95"]["uniform"])),
    ),
    Figure(
        r"w\*'s model is ahead of it by (\d\.\d\d\d) nats, an interval from (-?\d\.\d\d\d) to \+?(-?\d\.\d\d\d)",
        METRICS,
        lambda d: tuple(f"{x:.3f}" for x in (d["regmix_minus"]["truth"], *d["regmix_minus_ci95"]["truth"])),
    ),
    Figure(
        r"the paper's LightGBM gets (-?\d\.\d\d) here",
        METRICS,
        lambda d: f"{d['regression']['lightgbm_cv_spearman']:.2f}",
    ),
    Figure(
        r"on the (\d+) proxies \(nested (\d+)-fold CV; the paper's LightGBM gets -?\d\.\d\d here: (\d+) rounds "
        r"with its default (\d+) rows per leaf on (\d+) training rows,",
        PARAMS,
        lambda p: (
            str(n_proxies(p)),
            str(p["regression"]["folds"]),
            str(p["regression"]["lightgbm"]["n_estimators"]),
            str(p["regression"]["lightgbm"]["min_child_samples"]),
            # the smallest outer training fold
            str(n_proxies(p) - math.ceil(n_proxies(p) / p["regression"]["folds"])),
        ),
    ),
    # The validate profile
    Figure(
        r"`dvc repro` of the `validate` profile from scratch took " + MINSEC + r" on (\d+) cores",
        VALIDATE,
        lambda d: (minsec(step(d, "dvc repro (from scratch)")["wall_s"]), str(d["machine"]["usable_cores"])),
    ),
    Figure(
        r"on its (\d+) validation models, Spearman rho (-?\d\.\d{3}) \(95% CI (-?\d\.\d{3}) to (-?\d\.\d{3})\), "
        r"Pearson r (-?\d\.\d{3}) \(95% CI (-?\d\.\d{3}) to (-?\d\.\d{3})\)",
        VALIDATE,
        lambda d: transfer_figures(d["metrics"]["transfer"]),
    ),
    Figure(
        r"ranks of the (\d+) large models \(1: the lowest test loss\): w\* (\d+), RegMix (\d+), uniform (\d+), "
        r"token prior (\d+)",
        VALIDATE,
        lambda d: (
            str(d["metrics"]["transfer"]["of"]),
            *(str(d["metrics"]["transfer"]["rank"][k]) for k in ("truth", "regmix", "uniform", "prior")),
        ),
    ),
    Figure(
        r"[Oo]ver three seeds RegMix closes (-?\d+)% of the prior-to-w\* gap \(95% CI (-?\d+) to (-?\d+)%\)",
        VALIDATE,
        lambda d: tuple(f"{100 * x:.0f}" for x in (d["metrics"]["gap_closure"], *d["metrics"]["gap_closure_ci95"])),
    ),
    # The embedded default
    Figure(
        r"(\d+) training domains",
        PARAMS,
        lambda p: str(len(p["domains"]["synthetic"]["domains"])),
    ),
    Figure(
        r"in (\d+) clusters that share words",
        PARAMS,
        lambda p: str(len({d["cluster"] for d in p["domains"]["synthetic"]["domains"].values()})),
    ),
    Figure(
        r"(\d+) validation and (\d+) held-out test documents per domain",
        PARAMS,
        lambda p: (str(p["domains"]["synthetic"]["valid_docs"]), str(p["domains"]["synthetic"]["test_docs"])),
    ),
    # The simulation
    Figure(
        r"predicts ([\d,]+) candidate mixtures, averages the top (\d+)",
        PARAMS,
        lambda p: (f"{p['simulation']['n_candidates']:,}", str(p["simulation"]["top_k"])),
    ),
    Figure(
        r"\*\*Simulation\*\*: ([\d,]+) candidates from the prior's Dirichlet",
        PARAMS,
        lambda p: f"{p['simulation']['n_candidates']:,}",
    ),
    Figure(r"the optimal mixture is the mean of the top (\d+)\.", PARAMS, lambda p: str(p["simulation"]["top_k"])),
    Figure(
        r"the paper's linear regression and LightGBM \((\d+) rounds, learning rate ([\d.]+), never early-stopped\)",
        PARAMS,
        lambda p: (str(p["regression"]["lightgbm"]["n_estimators"]), f"{p['regression']['lightgbm']['learning_rate']}"),
    ),
    Figure(r"the paper's (\d+) released runs", REGRESSION, lambda d: str(d["settings"]["n_rows"])),
    # Paper scale: the paper profile's values
    Figure(r"the (\d+) Pile domains of", PAPER, lambda p: str(len(p["mixtures"]["prior"]))),
    Figure(
        r"(\d+) proxies \((\d+) shards of (\d+)\), the Dirichlet settings \(temperature ([\d.]+), "
        r"strengths ([\d.]+) to ([\d.]+), (\d+) epochs, minimum weight ([\de-]+)\)",
        PAPER,
        lambda p: (
            str(n_proxies(p)),
            str(len(p["sweep"]["shards"])),
            str(p["sweep"]["shard_size"]),
            *(f"{p['mixtures'][k]:g}" for k in ("temperature", "min_strength", "max_strength", "max_epochs")),
            exp(p["mixtures"]["min_weight"]),
        ),
    ),
    Figure(
        r"trained (\d+) steps of (\d+) x (\d+) tokens at a constant ([\de-]+) after (\d+) warmup steps",
        PAPER,
        lambda p: (
            str(steps_of(p["proxy"])),
            str(p["proxy"]["train"]["batch_size"]),
            str(p["proxy"]["model"]["block_size"]),
            exp(p["proxy"]["train"]["lr"]),
            str(p["proxy"]["train"]["warmup_steps"]),
        ),
    ),
    Figure(
        r"trained ([\d,]+) steps with cosine decay to ([\de-]+);",
        PAPER,
        lambda p: (f"{steps_of(p['large']):,}", exp(p["large"]["train"]["min_lr"])),
    ),
    Figure(r"for the 1B models' (\d+)B tokens", PAPER, lambda p: f"{p['large']['train']['tokens'] / 1e9:.0f}"),
]


# ---------------------------------------------------------------- checking and writing


def load(root: Path, source: str) -> dict | None:
    """A figure source's content, or None where the file does not exist (yet)."""
    path = root / source
    if not path.is_file():
        return None
    if source == PARAMS:
        from regmix.config.params import load_params

        return dataclasses.asdict(load_params(path))  # with the defaults README.md also quotes
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def missing(source: str) -> str:
    return f"{source} does not exist yet: make it with `{MAKERS.get(source, 'its benchmark script')}`"


def blocks(text: str) -> list[re.Match]:
    found = list(BLOCK.finditer(text))
    if len(found) != text.count("<!-- table:"):
        raise ValueError("README.md has a `<!-- table: FILE -->` marker without its `<!-- /table -->` on a later line")
    return found


@dataclass
class Result:
    what: str  # the block's file or the figure's phrase
    ok: bool | None  # None: skipped (its file does not exist)
    message: str = ""


def check_block(root: Path, match: re.Match) -> Result:
    source = match["source"]
    content = load(root, source)
    if content is None:
        return Result(f"table {source}", None, missing(source))
    want = renderer(source)(content, source)
    if want == match["body"]:
        return Result(f"table {source}", True)
    return Result(
        f"table {source}",
        False,
        f"README.md's block differs from what {source} renders; "
        f"run `python benchmarks/readme_tables.py --write`.\nREADME.md:\n{match['body']}\nrendered:\n{want}",
    )


def check_figure(root: Path, text: str, fig: Figure) -> Result:
    what = f"figure {fig.pattern!r} ({fig.source})"
    matches = list(fig.regex().finditer(text))
    if not matches:
        return Result(what, False, "README.md no longer has this phrase: update FIGURES in benchmarks/readme_tables.py")
    content = load(root, fig.source)
    if content is None:
        return Result(what, None, missing(fig.source))
    try:
        want = fig.values(content)
    except KeyError as e:
        return Result(what, False, f"{fig.source} lacks {e}: rerun `{MAKERS.get(fig.source, 'its benchmark')}`")
    for m in matches:
        if m.groups() != want:
            return Result(what, False, f"README.md says {m.groups()}, {fig.source} gives {want}: {m[0]!r}")
    return Result(what, True)


def check(root: Path = REPO, readme: str = "README.md") -> list[Result]:
    text = (root / readme).read_text(encoding="utf-8")
    return [check_block(root, m) for m in blocks(text)] + [check_figure(root, text, f) for f in FIGURES]


def regenerate(root: Path = REPO, readme: str = "README.md") -> list[str]:
    """Rewrite README.md's blocks and inline figures from the files that exist; returns what was skipped."""
    path = root / readme
    text = path.read_text(encoding="utf-8")
    skipped = []
    edits: list[tuple[int, int, str]] = []  # (start, end, new text), applied from the end
    for m in blocks(text):
        content = load(root, m["source"])
        if content is None:
            skipped.append(missing(m["source"]))
            continue
        edits.append((m.start("body"), m.end("body"), renderer(m["source"])(content, m["source"])))
    for fig in FIGURES:
        content = load(root, fig.source)
        if content is None:
            skipped.append(missing(fig.source))
            continue
        try:
            want = fig.values(content)
        except KeyError as e:
            skipped.append(f"{fig.source} lacks {e}: rerun `{MAKERS.get(fig.source, 'its benchmark')}`")
            continue
        for m in fig.regex().finditer(text):
            edits += [(m.start(i + 1), m.end(i + 1), w) for i, w in enumerate(want)]
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    if text != path.read_text(encoding="utf-8"):
        from regmix.files import write_text

        write_text(path, text)
    return sorted(set(skipped))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="regenerate README.md's figures from the files that exist")
    args = p.parse_args(argv)
    if args.write:
        for reason in regenerate():
            print(f"left as it is: {reason}")
    results = check()
    for r in results:
        if r.ok is False:
            print(f"DIFFERS {r.what}\n  {r.message}\n")
    for r in results:
        if r.ok is None:
            print(f"skipped {r.what}: {r.message}")
    bad = sum(r.ok is False for r in results)
    print(
        f"{sum(r.ok is True for r in results)} figures match, {bad} differ, "
        f"{sum(r.ok is None for r in results)} skipped (file not made yet)"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
