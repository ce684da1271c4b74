"""DVC's own time per command and per stage run, with ruamel's C YAML parser and without it.

    dvc repro && python benchmarks/dvc_overhead.py   # writes benchmarks/results/dvc_overhead.json

DVC parses dvc.yaml and dvc.lock with ruamel's safe loader at every command and again around every
stage it runs; without `ruamel.yaml.clib` (requirements.txt) that loader is pure Python. In the
reproduced workspace, each measurement runs with the parser as installed and with it hidden
(`sys.modules["_ruamel_yaml"] = None`, ruamel's own fallback), taking turns, `--repeats` times:
`dvc status` (reads only) and `dvc repro --force --single-item` of a few cheap stages, whose own
commands are also timed alone: the difference, per stage, is DVC's time around a stage. Forcing
them rewrites their outputs with the same bytes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import yaml
from provenance import REPO, RESULTS, provenance

from regmix.files import write_json

STAGES = ["baselines", "mixtures", "run_mixture@prior"]
HIDE = "import sys; sys.modules['_ruamel_yaml'] = None; "  # ruamel then falls back to its pure-Python parser
DVC = "import sys; from dvc.cli import main; sys.exit(main(sys.argv[1:]))"


def timed(cmd: list[str] | str, shell: bool = False, check: bool = True) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, shell=shell, check=check, capture_output=True)
    return time.perf_counter() - t


def dvc(parser: str, *args: str, check: bool = True) -> float:
    """Seconds of one `dvc` command with the C parser (`c`) or the pure-Python one (`python`)."""
    return timed([sys.executable, "-c", (HIDE if parser == "python" else "") + DVC, *args], check=check)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=RESULTS / "dvc_overhead.json")
    args = p.parse_args(argv)
    if not (REPO / "dvc.lock").is_file():
        sys.exit("error: no dvc.lock here: run `dvc repro` first, then this benchmark")
    meta = provenance(["dvc", "ruamel.yaml", "ruamel.yaml.clib"])
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]
    stages = [s for s in STAGES if s in lock]
    runs = {"c": {"status": [], "repro": []}, "python": {"status": [], "repro": []}}
    alone = []
    for _ in range(args.repeats):
        for parser in ("c", "python"):
            runs[parser]["status"].append(dvc(parser, "status", check=False))  # exits 1 when a stage changed
            runs[parser]["repro"].append(dvc(parser, "repro", "--force", "--single-item", "--quiet", *stages))
        alone.append(sum(timed(lock[s]["cmd"], shell=True) for s in stages))
    med = {k: {m: statistics.median(v) for m, v in d.items()} for k, d in runs.items()}
    commands = statistics.median(alone)
    per_stage = {k: (med[k]["repro"] - commands - med[k]["status"]) / len(stages) for k in med}
    results = {
        "benchmark": "dvc_overhead",
        **meta,
        "command": "python benchmarks/dvc_overhead.py " + " ".join(argv or sys.argv[1:]),
        "dvc_lock_bytes": (REPO / "dvc.lock").stat().st_size,
        "stages_in_lock": len(lock),
        "forced_stages": stages,
        "repeats": args.repeats,
        "stage_commands_alone_s": round(commands, 2),
        "median_s": {k: {m: round(v, 2) for m, v in d.items()} for k, d in med.items()},
        # a forced repro is one command's start (as `dvc status`) plus, per stage, DVC's work around its command
        "dvc_per_stage_s": {k: round(v, 2) for k, v in per_stage.items()},
    }
    write_json(args.out, results)
    print(f"dvc.lock {results['dvc_lock_bytes']:,} bytes, {len(lock)} stages; forced {', '.join(stages)}")
    print(f"{'YAML parser':12} {'dvc status':>11} {'forced repro':>13} {'DVC per stage':>14}")
    for k, label in (("python", "pure Python"), ("c", "C (clib)")):
        print(f"{label:12} {med[k]['status']:>10.2f}s {med[k]['repro']:>12.2f}s {per_stage[k]:>13.2f}s")
    print(f"(the {len(stages)} stages' own commands: {commands:.2f} s)")


if __name__ == "__main__":
    main()
