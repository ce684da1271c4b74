"""Time the pipeline as a user meets it: `dvc repro` from scratch, a no-op `dvc repro`, `dvc status`.

Runs in a temporary copy of the repository (so your workspace is untouched), prints a markdown
table (wall time of each command and the stages it ran) and writes everything, with the overrides,
the repository's commit, library versions and machine facts, to
`benchmarks/results/pipeline_timing_<name>.json` (`--name`; `--out` for another path).

    python benchmarks/pipeline_timing.py --fresh-venv                 # the embedded default, as from a fresh clone
    python benchmarks/pipeline_timing.py --name 512 $(python -m regmix.profiles tiny) \\
        -S 'sweep.shards=[0,...,15]' -S sweep.shard_size=32           # DVC overhead at 512 proxies, tiny models
    python benchmarks/pipeline_timing.py --name tiny --out /tmp/t.json $(python -m regmix.profiles tiny)  # a check

`--fresh-venv` first creates a virtual environment in the temporary folder and times the README's
install in it (`INSTALL`, network needed), then runs DVC from it: the README's "from a fresh clone and
a fresh venv" figure is the install plus `dvc repro` from scratch.
`-S key=value` (or `-S ++key=value`, as `python -m regmix.profiles` prints) overrides params.yaml;
`[a,...,b]` is the list of integers a to b.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from provenance import RESULTS, provenance

from regmix.files import write_json

REPO = Path(__file__).resolve().parents[1]
# The README's first command is `python3 -m venv .venv && . .venv/bin/activate && {INSTALL} && dvc repro`
# (tests/test_readme_figures.py checks it): pip installs uv and torch alone (pip knows the machine's
# CPU wheel), uv the rest and torch's dependencies, in parallel and from its cache.
INSTALL = "pip install --no-deps uv==0.13.9 torch==2.13.0 && uv pip install --compile-bytecode -r requirements.txt"
INSTALL_LABEL = "venv + install (README)"


def run(
    cmd: list[str], cwd: Path, bin_dir: Path, stage_times: dict | None = None, stage_starts: dict | None = None
) -> tuple[float, str]:
    """Run `cmd`; return its wall time and output. With `stage_times`, fill it with each DVC stage's wall time
    (from the moment DVC prints "Running stage" to the next stage's, or the end); with `stage_starts`, with
    that moment as a Unix time (to compare with the times files were written)."""
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(cwd / "src"))
    env.pop("VIRTUAL_ENV", None)
    env["PYTHONUNBUFFERED"] = "1"
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, current = [], None
    for line in p.stdout:
        lines.append(line)
        m = re.match(r"Running stage '([^']+)'", line)
        if m and stage_starts is not None:
            stage_starts[m[1]] = time.time()
        if m and stage_times is not None:
            now = time.perf_counter()
            if current:
                stage_times[current[0]] = now - current[1]
            current = (m[1], now)
    p.wait()
    dt = time.perf_counter() - t
    if current and stage_times is not None:
        stage_times[current[0]] = t + dt - current[1]
    out = "".join(lines)
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{out[-3000:]}")
    return dt, out


def parse_value(value: str):
    """A YAML value; `[a,...,b]` is the list of integers a to b."""
    m = re.fullmatch(r"\[\s*(-?\d+)\s*,\s*\.\.\.\s*,\s*(-?\d+)\s*\]", value)
    return list(range(int(m[1]), int(m[2]) + 1)) if m else yaml.safe_load(value)


def set_param(params: dict, assignment: str) -> None:
    key, value = assignment.split("=", 1)
    *path, last = key.lstrip("+").split(".")
    node = params
    for k in path:
        node = node.setdefault(k, {})
    node[last] = parse_value(value)


def copy_project(root: Path) -> None:
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml", "stages", "src", ".dvc", ".dvcignore", ".gitignore", "pyproject.toml"):
        src = REPO / name
        if src.is_dir():
            ignore = shutil.ignore_patterns("cache", "tmp", "__pycache__", "*.egg-info")
            shutil.copytree(src, root / name, ignore=ignore)
        elif src.exists():
            shutil.copy(src, root / name)
    shutil.copy(REPO / "requirements.txt", root / "requirements.txt")


def proxy_latency(cache: Path, starts: dict[str, float], shard_size: int, workers: int) -> dict[str, dict]:
    """Per `proxies@<k>` stage: when its first proxy was done (its cache file written, `regmix.proxy.jobs`),
    counted from the stage's start, against a typical proxy's time per worker (the mean gap between two
    finished proxies after the first, times the workers: workers that start together finish in near pairs, so
    single gaps say little): the start-up a shard pays once, `first_excess_s`."""
    done: dict[int, list[float]] = {}
    for path in cache.glob("proxy-*-*.json"):
        index = int(path.name.split("-")[1])
        done.setdefault((index - 1) // shard_size, []).append(path.stat().st_mtime)
    out = {}
    for k, times in sorted(done.items()):
        stage = f"proxies@{k}"
        times = sorted(t for t in times if t >= starts.get(stage, float("inf")))  # this run's, not a cached one
        if len(times) < 3:
            continue
        per_worker = (times[-1] - times[0]) / (len(times) - 1) * workers  # the steady rate after the first
        first = times[0] - starts[stage]
        out[stage] = {
            "first_s": round(first, 2),
            "per_worker_s": round(per_worker, 2),
            "first_excess_s": round(first - per_worker, 2),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-S", dest="overrides", action="append", default=[], help="key=value, as for dvc exp run")
    parser.add_argument("--name", default="default", help="results go to benchmarks/results/pipeline_timing_NAME.json")
    parser.add_argument("--out", type=Path, help="results file instead of benchmarks/results/pipeline_timing_NAME.json")
    parser.add_argument("--metrics-out", type=Path, help="also write the run's reports/metrics.json there")
    parser.add_argument(
        "--fresh-venv", action="store_true", help="time the README's install (INSTALL) in a new venv first"
    )
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
        parser.error(f"--name {args.name!r}: use letters, digits, '.', '_' or '-'")
    out = args.out or RESULTS / f"pipeline_timing_{args.name}.json"
    meta = provenance(list(PACKAGES))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        copy_project(root)
        params = yaml.safe_load((root / "params.yaml").read_text())
        for o in args.overrides:
            set_param(params, o)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        bin_dir = Path(sys.executable).parent
        steps, starts = [], {}
        if args.fresh_venv:
            venv = Path(tmp) / "venv"
            dt_venv, _ = run([sys.executable, "-m", "venv", str(venv)], root, bin_dir)
            bin_dir = venv / "bin"
            dt, _ = run(["bash", "-c", f". {venv}/bin/activate && {INSTALL}"], root, bin_dir)
            steps.append({"label": INSTALL_LABEL, "wall_s": dt_venv + dt, "stages": [], "command": INSTALL})
            meta["versions"]["venv"] = json.loads(
                run([str(bin_dir / "python"), "-c", VERSIONS], root, bin_dir)[1].strip().splitlines()[-1]
            )
        for cmd in (
            ["git", "init", "-q"],
            ["git", "add", "-A"],
            ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "b"],
        ):
            run(cmd, root, bin_dir)
        for label, cmd in (
            ("dvc repro (from scratch)", ["dvc", "repro"]),
            ("dvc repro (no-op)", ["dvc", "repro"]),
            ("dvc status", ["dvc", "status"]),
        ):
            stage_s: dict[str, float] = {}
            dt, log = run(cmd, root, bin_dir, stage_s, starts if label == "dvc repro (from scratch)" else None)
            steps.append(
                {
                    "label": label,
                    "wall_s": dt,
                    "stages": re.findall(r"Running stage '([^']+)'", log),
                    "stage_s": {k: round(v, 2) for k, v in stage_s.items()},
                }
            )
        metrics = json.loads((root / "reports" / "metrics.json").read_text())
        sweep = params["sweep"]
        latency = proxy_latency(root / "data" / "cache" / "proxies", starts, sweep["shard_size"], sweep["workers"])
    scratch = next(s for s in steps if s["label"] == "dvc repro (from scratch)")
    doc = {
        "benchmark": "pipeline_timing",
        "name": args.name,
        **meta,
        "overrides": args.overrides,
        "fresh_venv": args.fresh_venv,
        "n_stages": len(scratch["stages"]),  # every stage runs from scratch
        "n_shards": len(params["sweep"]["shards"]),
        "n_proxies": len(params["sweep"]["shards"]) * params["sweep"]["shard_size"],
        "steps": [{**s, "stages_run": len(s["stages"])} for s in steps],
        # what a user waits for before the first results: the install (with --fresh-venv) and the first `dvc repro`
        "first_results_s": sum(s["wall_s"] for s in steps[: steps.index(scratch) + 1]),
        "proxy_latency": latency,
        "metrics": metrics,
    }
    write_json(out, doc)
    if args.metrics_out:
        write_json(args.metrics_out, metrics)
    print("| command | wall s | stages run |\n|---|---|---|")
    for s in doc["steps"]:
        print(f"| {s['label']} | {s['wall_s']:.1f} | {s['stages_run']} |")
    print("\n| stage (from scratch) | wall s |\n|---|---|")
    for stage, sec in scratch["stage_s"].items():
        print(f"| {stage} | {sec:.1f} |")
    for stage, lat in latency.items():
        print(
            f"\n{stage}: first proxy done {lat['first_s']:.1f} s after the stage started; a typical proxy takes "
            f"{lat['per_worker_s']:.1f} s per worker, so start-up costs {lat['first_excess_s']:.1f} s"
        )
    print(f"\n{doc['n_stages']} stages, {doc['n_proxies']} proxies; written to {out}")
    print("reports/metrics.json:\n" + json.dumps(metrics, indent=2))


PACKAGES = ("dvc", "torch", "litgpt", "lightning", "lightgbm", "scikit-learn", "mlflow")
# Library versions inside the fresh venv (None for one not installed).
VERSIONS = (
    "import json, platform\nfrom importlib import metadata as m\n"
    "def v(p):\n    try:\n        return m.version(p)\n    except m.PackageNotFoundError:\n        return None\n"
    f"print(json.dumps({{'python': platform.python_version(), **{{p: v(p) for p in {PACKAGES!r}}}}}))"
)


if __name__ == "__main__":
    main()
