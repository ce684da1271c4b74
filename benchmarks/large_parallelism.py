"""How the default's large models best use 2 cores: threads, DDP processes, or two runs side by side.

    python benchmarks/large_parallelism.py      # writes benchmarks/results/large_parallelism.json

In a temporary copy of the repository, `dvc repro run_mixture@prior run_mixture@uniform` writes the
default's tokens and two mixtures; then the `large@<run>` stage's own command (`stages/train_large.py`)
trains the default large model, timed from launch to exit (imports included), in three ways:

- `1 process, 2 threads`: the default (`large.threads: 2`), one run after the other as `dvc repro` runs them;
- `DDP, 2 processes x 1 thread`: `large.fabric.devices: 2`, `strategy: ddp` (gloo), each process half the batch;
- `2 runs side by side, 1 thread each`: what running two stages at once would give (`dvc repro` runs one
  stage at a time), the pair's wall time halved.

Each way trains the prior's and the uniform mixture (seed 0); the table gives seconds per model and the
speed-up over the default. The three ways train the same models (the test suite checks DDP against one
process), so only the time differs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from pipeline_timing import copy_project, run
from provenance import RESULTS, provenance

from regmix.files import write_json

RUNS = ("prior", "uniform")


def train_cmd(run_name: str, out: Path) -> list[str]:
    return [
        "python", "stages/train_large.py", "--name", f"bench-{run_name}-0", "--seed", "0",
        "--mixture", f"models/runs/{run_name}.yaml", "--tokens", "data/tokens", "--out", str(out),
    ]  # fmt: skip


def set_large(root: Path, threads: int, devices: int, strategy: str) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["large"]["threads"] = threads
    params["large"]["fabric"].update(devices=devices, strategy=strategy)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def timed(cmds: list[list[str]], root: Path, bin_dir: Path) -> float:
    """Wall time of `cmds` started together, until the last exits."""
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHONPATH": str(root / "src"), "HOME": str(root)}
    t = time.perf_counter()
    procs = [subprocess.Popen(c, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in cmds]
    for p, c in zip(procs, cmds, strict=True):
        err = p.communicate()[1]
        if p.returncode:
            sys.exit(f"{' '.join(c)} failed:\n{err.decode()[-3000:]}")
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS / "large_parallelism.json")
    args = parser.parse_args(argv)
    meta = provenance(["torch", "lightning", "litgpt"])
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        copy_project(root)
        for cmd in (["git", "init", "-q"], ["dvc", "repro", *(f"run_mixture@{r}" for r in RUNS)]):
            run(cmd, root, bin_dir)
        out = Path(tmp) / "models"
        ways = {}
        set_large(root, threads=2, devices=1, strategy="auto")
        ways["1 process, 2 threads"] = sum(timed([train_cmd(r, out / f"a-{r}")], root, bin_dir) for r in RUNS) / 2
        set_large(root, threads=1, devices=2, strategy="ddp")
        ways["DDP, 2 processes x 1 thread"] = (
            sum(timed([train_cmd(r, out / f"b-{r}")], root, bin_dir) for r in RUNS) / 2
        )
        set_large(root, threads=1, devices=1, strategy="auto")
        ways["2 runs side by side, 1 thread each"] = (
            timed([train_cmd(r, out / f"c-{r}") for r in RUNS], root, bin_dir) / 2
        )
    base = ways["1 process, 2 threads"]
    rows = [{"way": w, "s_per_model": round(s, 1), "speedup": round(base / s, 2)} for w, s in ways.items()]
    write_json(args.out, {"benchmark": "large_parallelism", **meta, "runs": list(RUNS), "ways": rows})
    print("| way | s per model | speed-up |\n|---|---|---|")
    for r in rows:
        print(f"| {r['way']} | {r['s_per_model']:.1f} | {r['speedup']:.2f} |")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
