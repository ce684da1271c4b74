"""Time the test suite as CI runs it: `bash .ci/run` in a fresh clone, with `shared/` beside it.

    python benchmarks/ci_timing.py      # writes benchmarks/results/ci_timing.json

Clones the committed HEAD (uncommitted changes are not timed) into a temporary folder, links the
repository's `../shared` beside the clone (the tests read the paper's data from there, as in CI),
and runs `.ci/run` there with CI=true and no standard input: a fresh venv, the README's install
(uv) of requirements-dev.txt, ruff, pytest. Records the wall time of the whole command, pytest's own time
and its counts (passed, skipped, ...), with the commit and machine facts. A failing run writes
nothing and exits 1. It takes as long as CI (the last figure: benchmarks/results/ci_timing.json).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import REPO, RESULTS, provenance

from regmix.files import write_json

SUMMARY = re.compile(r"^=+ (?P<counts>.*?) in (?P<seconds>[\d.]+)s\b.*=+$", re.M)
COUNT = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?|warnings?|deselected)")


def pytest_summary(log: str) -> dict:
    """pytest's final line, e.g. `=== 100 passed, 1 skipped in 392.12s (0:06:32) ===`, as numbers."""
    found = list(SUMMARY.finditer(log))
    if not found:
        raise ValueError("no pytest summary line in the output")
    counts = {"passed": 0, "skipped": 0, "failed": 0}
    for n, name in COUNT.findall(found[-1]["counts"]):
        counts[{"errors": "error", "warnings": "warning"}.get(name, name)] = int(n)
    return {"pytest_s": float(found[-1]["seconds"]), **counts}


def clean_env() -> dict:
    """The environment without this session's virtual environment, as a fresh shell has it."""
    env = dict(os.environ, CI="true")
    venv = env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    if venv:
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(venv))
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=RESULTS / "ci_timing.json")
    args = p.parse_args(argv)
    meta = provenance(["pytest", "torch", "dvc"])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if (REPO.parent / "shared").is_dir():
            (tmp / "shared").symlink_to(REPO.parent / "shared")
        clone = tmp / "repo"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        start = time.perf_counter()
        run = subprocess.run(
            ["bash", ".ci/run"], cwd=clone, env=clean_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        wall = time.perf_counter() - start
    log = run.stdout + run.stderr
    if run.returncode:
        print(run.stdout[-8000:])  # pytest's report (pip's warnings go to stderr)
        print(run.stderr[-2000:])
        print(f".ci/run failed (exit {run.returncode}) after {wall:.0f} s: nothing written", file=sys.stderr)
        return 1
    doc = {"benchmark": "ci_timing", **meta, "wall_s": wall, **pytest_summary(log)}
    write_json(args.out, doc)
    print(
        f".ci/run: {doc['passed']} passed, {doc['skipped']} skipped; {wall:.0f} s in all, "
        f"pytest {doc['pytest_s']:.0f} s; written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
