"""Time the pipeline as a user meets it: `dvc repro` from scratch, then a no-op `dvc repro`.

Runs in a temporary copy of the repository (so your workspace is untouched) and prints a
markdown table: wall time of each command, the stages that ran, and the report's key metrics.

    python benchmarks/pipeline_timing.py                      # the embedded default
    python benchmarks/pipeline_timing.py -S sweep.shards=[0,1,2,3,4,5,6,7] -S sweep.shard_size=64 \
        -S proxy.train.tokens=4096 ...                        # e.g. DVC overhead at 512 proxies
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

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    env = dict(
        os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(cwd / "src")
    )
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{(p.stdout + p.stderr)[-3000:]}")
    return dt, p.stdout + p.stderr


def set_param(params: dict, assignment: str) -> None:
    key, value = assignment.split("=", 1)
    *path, last = key.split(".")
    node = params
    for k in path:
        node = node[k]
    node[last] = yaml.safe_load(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-S", dest="overrides", action="append", default=[], help="key=value, as for dvc exp run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        for name in ("dvc.yaml", "params.yaml", "stages", "src", ".dvc", ".gitignore", "pyproject.toml"):
            src = REPO / name
            if src.is_dir():
                shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("cache", "tmp", "__pycache__"))
            else:
                shutil.copy(src, root / name)
        params = yaml.safe_load((root / "params.yaml").read_text())
        for o in args.overrides:
            set_param(params, o)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        for cmd in (
            ["git", "init", "-q"],
            ["git", "add", "-A"],
            ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "b"],
        ):
            run(cmd, root)
        rows = []
        for label, cmd in (
            ("dvc repro (from scratch)", ["dvc", "repro"]),
            ("dvc repro (no-op)", ["dvc", "repro"]),
            ("dvc status", ["dvc", "status"]),
        ):
            dt, out = run(cmd, root)
            rows.append((label, dt, len(re.findall(r"Running stage", out))))
        print("| command | wall s | stages run |\n|---|---|---|")
        for label, dt, n in rows:
            print(f"| {label} | {dt:.1f} | {n} |")
        metrics = json.loads((root / "reports" / "metrics.json").read_text())
        print("\nreports/metrics.json:\n" + json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
