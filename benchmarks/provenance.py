"""What every results file in `benchmarks/results/` records besides its figures: when, how, on what.

from provenance import provenance
write_json(out, {"benchmark": "...", **provenance(["numpy", "lightgbm"]), ...})
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def git_commit() -> dict:
    """The repository's commit and whether the work tree had uncommitted changes (None outside git)."""

    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def cpu_probe_s() -> float:
    """Seconds for a fixed pure-Python loop (10M additions): the machine's own speed, which the load average does
    not show (a slowed machine with no other load reads as idle)."""
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - start, 3)


def machine() -> dict:
    """Cores, CPU, load and thread settings: timings mean little without them."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "cpu": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "load_average_at_start": load,  # 1, 5, 15 minutes: other jobs on a shared machine slow timings
        "cpu_probe_s": cpu_probe_s(),
        "threads_env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ},
    }


def versions(packages: list[str]) -> dict:
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return path


def provenance(packages: list[str]) -> dict:
    """date, command, git commit, machine and library versions, to merge into a results file."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", _relative(sys.argv[0]), *sys.argv[1:]]),
        "git": git_commit(),
        "machine": machine(),
        "versions": versions(packages),
    }
