"""Bad input, table-driven, through the real entry points: `dvc repro`, the stage scripts and the `regmix` command.

Each row breaks one input (a params.yaml field, a JSONL domain file, a tokenizer.json, a mixtures or losses
CSV, a mixture YAML) and expects: a non-zero exit, exactly one `error:` line that names the file or params
field and the value (and a fix), no traceback, and no output changed. `dvc` rows run DVC in a process of its
own; stage-script and `regmix` rows run the script's `__main__` (or the command's `main`) in this process.

One tiny project is built per module (`dvc repro domains tokenize mixtures` and one `regmix fit`), so params
rows only rerun the cheap early stages, and most fail at params load, which every stage does first.

DVC deletes a stage's outputs before it runs the stage's command (unless they are `persist: true`), so after
a failed `dvc repro` the outputs of the stages that ran are gone from the workspace, though not lost: they
stay in the DVC cache and dvc.lock is untouched, and `dvc checkout` restores them byte for byte
(`test_a_failed_dvc_stage_loses_nothing`). The rows check that such outputs are either absent or unchanged,
never rewritten, then put them back.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from regmix import cli

BIN = Path(sys.executable).parent
STAGE_OUTS = {
    "domains": "data/domains",
    "tokenizer": "data/tokenizer.json",
    "tokenize": "data/tokens",
    "mixtures": "data/mixtures",
}
TINY = {
    "domains": {
        "synthetic": {
            "domains": {
                "web": {"cluster": 0, "train_docs": 40, "share": 0.6},
                "wiki": {"cluster": 0, "train_docs": 30, "share": 0.5},
                "code": {"cluster": 1, "train_docs": 30, "share": 0.5},
            },
            "target_weights": {"wiki": 0.7, "code": 0.3},
            "valid_docs": 6,
            "test_docs": 6,
        }
    },
    "tokenizer": {"vocab_size": 300},
    "sweep": {"shards": [0, 1], "shard_size": 3},
    "proxy": {"train": {"tokens": 1024}},
    "large": {"train": {"tokens": 2048}},  # the proxies' usage caps are the large run's
}

# What `dvc repro -s mixtures` runs, without DVC around it: for params rows whose path through DVC other rows show
# (every stage checks all of params.yaml first, so any stage's script gives the same one line).
MIXTURES_STAGE = "stage sample_mixtures.py --tokens data/tokens --out data/mixtures"
# and what `dvc repro -s domains` and `-s tokenizer` run (rows of theirs through DVC stay beside these)
DOMAINS_STAGE = "stage make_domains.py --out data/domains"
TOKENIZER_STAGE = "stage train_tokenizer.py --domains data/domains --out data/tokenizer.json"
# Inputs of the `regmix` command, broken below one way per row.
MIX = "index,train_web,train_wiki,train_code\n1,0.5,0.3,0.2\n2,0.2,0.2,0.6\n3,0.1,0.8,0.1\n"
LOSSES = "index,metric/target_val_loss\n1,3.1\n2,3.2\n3,3.0\n"
FIT = "regmix fit --mixtures {bad}/m.csv --losses {bad}/l.csv --target metric/target_val_loss --out fit"
SIMULATE = "regmix simulate --model fit --prior {bad}/prior.yaml --out sim --n-candidates 100 --top-k 5 --n-bootstrap 0"
# A local domains directory in the paper's layout; `d/train/web-0.jsonl` is what a row breaks.
# (w* is unknown there, so the `truth` run goes.)
LOCAL = {
    "domains.source": "local",
    "domains.path": "{bad}/d",
    "large.runs": {"regmix": "models/optimal_mixture.yaml", "prior": "models/baselines/prior.yaml"},
}
OK = '{"text": "some words here"}\n{"text": "and more words"}\n'


def layout(web_file: str | bytes, name: str = "web-0.jsonl") -> dict:
    return {f"d/train/{name}": web_file, "d/train/wiki-0.jsonl": OK} | {
        f"d/valid/{d}-0.jsonl": OK for d in ("web", "wiki", "target")
    }


@dataclass(frozen=True)
class Case:
    name: str
    run: str  # the command; `{bad}` is a scratch folder holding `files`
    expect: tuple[str, ...]  # in the one error line: the file or field, and the value
    params: dict = field(default_factory=dict)  # dotted params.yaml key -> value
    files: dict = field(default_factory=dict)  # scratch file -> content
    params_text: tuple[str, str] | bytes | None = None  # or: (old, new) text replaced in params.yaml, or its bytes
    dvc_says: bool = False  # DVC itself rejects the input before any stage runs (its message, not ours)


CASES = [
    # ---- params.yaml, through `dvc repro -s` of the stage that depends on the field
    Case(
        "min_strength 0",
        "dvc repro -s mixtures",
        ("field mixtures.min_strength", "value 0 "),
        {"mixtures.min_strength": 0},
    ),
    Case(
        "min_strength > max_strength",
        "dvc repro -s mixtures",
        ("field mixtures.min_strength", "value 6.0", "max_strength (5.0)"),
        {"mixtures.min_strength": 6},
    ),
    Case(
        "temperature <= 0",
        MIXTURES_STAGE,
        ("field mixtures.temperature", "value -1"),
        {"mixtures.temperature": -1},
    ),
    Case("decimals 0", MIXTURES_STAGE, ("field mixtures.decimals", "value 0"), {"mixtures.decimals": 0}),
    Case(
        "max_epochs NaN",
        MIXTURES_STAGE,
        ("field mixtures.max_epochs", "value nan"),
        {"mixtures.max_epochs": float("nan")},
    ),
    Case(
        "prior weight < 0",
        MIXTURES_STAGE,
        ("field mixtures.prior.web", "value -0.5"),
        {"mixtures.prior": {"web": -0.5, "wiki": 1}},
    ),
    Case(
        "prior unknown domain",
        "dvc repro -s mixtures",
        ("field mixtures.prior.books", "'books'", "not a training domain"),
        {"mixtures.prior": {"web": 1, "books": 1}},
    ),
    Case(
        "misspelt field",
        "dvc repro -s mixtures",
        ("field mixtures.min_strenght", "unknown field (value 0.2)", "did you mean 'min_strength'"),
        {"mixtures.min_strenght": 0.2},
    ),
    Case(
        "shards not 0..n-1", "dvc repro -s mixtures", ("field sweep.shards", "value [0, 2]"), {"sweep.shards": [0, 2]}
    ),
    Case("negative seed", "dvc repro -s domains", ("field seed", "value -1"), {"seed": -1}),
    Case("unknown source", DOMAINS_STAGE, ("field domains.source", "value 's3'"), {"domains.source": "s3"}),
    Case(
        "target is a training domain",
        DOMAINS_STAGE,
        ("field domains.target", "value 'web'"),
        {"domains.target": "web"},
    ),
    Case(
        "vocab too small",
        TOKENIZER_STAGE,
        ("field tokenizer.vocab_size", "value 100"),
        {"tokenizer.vocab_size": 100},
    ),
    # ---- params.yaml fields of later stages: every stage reads (and checks) all of params.yaml first
    Case(
        "lr not a number",
        MIXTURES_STAGE,
        ("field proxy.train.lr", "value 'fast'"),
        {"proxy.train.lr": "fast"},
    ),
    Case(
        "min_lr > lr",
        MIXTURES_STAGE,
        ("field large.train.min_lr", "value 0.01", "above lr (0.002)"),
        {"large.train.min_lr": 0.01},
    ),
    Case("beta2 1", MIXTURES_STAGE, ("field proxy.train.beta2", "value 1"), {"proxy.train.beta2": 1}),
    Case(
        "n_embd not a multiple of n_head",
        MIXTURES_STAGE,
        ("field proxy.model.n_embd", "value 66", "n_head (4)"),
        {"proxy.model.n_embd": 66},
    ),
    Case(
        "unknown regression model",
        MIXTURES_STAGE,
        ("field regression.candidates[1]", "value 'xgboost'"),
        {"regression.candidates": ["linear", "xgboost"]},
    ),
    Case(
        "run name not a stage name",
        MIXTURES_STAGE,
        ("field large.runs, name 'my run'", "value 'my run'"),
        {"large.runs.my run": "models/optimal_mixture.yaml"},
    ),
    # ---- params.yaml that is not YAML, or not UTF-8
    Case(
        "params.yaml malformed, under DVC",
        "dvc repro -s mixtures",
        ("params.yaml", "line 69"),
        params_text=("  decimals: 3\n", "  decimals: [3\n"),
        dvc_says=True,
    ),
    Case(
        "params.yaml malformed",
        "stage sample_mixtures.py --tokens data/tokens --out data/mixtures",
        ("params.yaml, line 70, column 8", "not valid YAML"),
        params_text=("  decimals: 3\n", "  decimals: [3\n"),
    ),
    Case(
        "params.yaml not UTF-8",
        "stage sample_mixtures.py --tokens data/tokens --out data/mixtures",
        ("params.yaml, line 1", "is not UTF-8"),
        params_text=b"# caf\xe9\nseed: 0\n",
    ),
    # ---- JSONL domain files: a local directory in the paper's layout, through `dvc repro domains`
    Case(
        "JSONL not UTF-8",
        "dvc repro -s domains",
        ("d/train/web-0.jsonl, line 2", "is not UTF-8", "caf\\xe9"),
        LOCAL,
        layout(b'{"text": "ok"}\n{"text": "caf\xe9"}\n'),
    ),
    Case(
        "JSONL line not JSON",
        DOMAINS_STAGE,
        ("web-0.jsonl, line 2", "not valid JSON", "{text: oops}"),
        LOCAL,
        layout('{"text": "ok"}\n{text: oops}\n'),
    ),
    Case(
        "JSONL text missing",
        DOMAINS_STAGE,
        ("web-0.jsonl, line 1, field 'text'", '{"content": "x"}'),
        LOCAL,
        layout('{"content": "x"}\n'),
    ),
    Case(
        "JSONL file empty",
        DOMAINS_STAGE,
        ("web-0.jsonl", "domain 'web' has no non-empty text"),
        LOCAL,
        layout(""),
    ),
    Case(
        "JSONL file misnamed",
        DOMAINS_STAGE,
        ("d/train/web.jsonl", "'web.jsonl' is not <domain>-<k>.jsonl"),
        LOCAL,
        layout(OK, name="web.jsonl"),
    ),
    Case(
        "JSONL lone surrogate",
        "stage train_tokenizer.py --domains {bad}/d --out {bad}/tok.json",
        ("web-0.jsonl, line 1, field 'text'", "unpaired surrogate '\\ud800'"),
        files=layout('{"text": "a \\ud800 b"}\n'),
    ),
    # ---- tokenizer.json, through `dvc repro tokenize`
    Case(
        "tokenizer.json not a tokenizer",
        "dvc repro -s tokenizer",
        ("tok.json", "not a readable tokenizer.json"),
        {"tokenizer.path": "{bad}/tok.json"},
        {"tok.json": '{"version": "1.0"}'},
    ),
    Case(
        "tokenizer.json missing",
        TOKENIZER_STAGE,
        ("field tokenizer.path", "none.json", "not found"),
        {"tokenizer.path": "{bad}/none.json"},
    ),
    # ---- mixtures and losses CSVs, through `regmix fit` (whose --out, an existing model, must stay as it is)
    Case(
        "CSV no index column",
        FIT,
        ("m.csv", "no 'index' column"),
        files={"m.csv": MIX.replace("index", "idx"), "l.csv": LOSSES},
    ),
    Case(
        "CSV column renamed",
        FIT,
        ("m.csv, column 'web'", "train_<domain>"),
        files={"m.csv": MIX.replace("train_web", "web"), "l.csv": LOSSES},
    ),
    Case(
        "CSV weight NaN",
        FIT,
        ("m.csv, column 'train_wiki', index 2", "value nan"),
        files={"m.csv": MIX.replace("2,0.2,0.2", "2,0.2,nan"), "l.csv": LOSSES},
    ),
    Case(
        "CSV weight negative",
        FIT,
        ("m.csv, column 'train_code', index 3", "value -0.1"),
        files={"m.csv": MIX.replace("0.8,0.1\n", "0.8,-0.1\n"), "l.csv": LOSSES},
    ),
    Case(
        "CSV row not summing to 1",
        FIT,
        ("m.csv, index 2", "weights sum to 0.5"),
        files={"m.csv": MIX.replace("2,0.2,0.2,0.6", "2,0.2,0.2,0.1"), "l.csv": LOSSES},
    ),
    Case(
        "CSV column twice",
        FIT,
        ("m.csv, column 'train_web'", "appears more than once"),
        files={"m.csv": MIX.replace("train_code", "train_web"), "l.csv": LOSSES},
    ),
    Case(
        "CSV not UTF-8",
        FIT,
        ("m.csv", "not a readable CSV", "utf-8"),
        files={"m.csv": MIX.encode().replace(b"train_code", b"train_caf\xe9"), "l.csv": LOSSES},
    ),
    Case(
        "losses NaN",
        FIT,
        ("l.csv, column 'metric/target_val_loss', index 2", "value nan"),
        files={"m.csv": MIX, "l.csv": LOSSES.replace("3.2", "nan")},
    ),
    # ---- `regmix predict`: candidates must have the fit-time columns
    Case(
        "candidates with unknown domain",
        "regmix predict --model fit --mixtures {bad}/m.csv --out fit/predictions.csv",
        ("m.csv, header", "train_books"),
        files={"m.csv": MIX.replace("train_code", "train_books")},
    ),
    # ---- mixture YAML (the prior of `regmix simulate`)
    Case(
        "mixture YAML malformed",
        SIMULATE,
        ("prior.yaml, line 3, column 2", "not valid YAML"),
        files={"prior.yaml": "train:\n  train_web: 0.5\n train_wiki: 0.5\n"},
    ),
    Case(
        "mixture YAML unknown domain",
        SIMULATE,
        ("prior.yaml, field 'books'", "unknown domain 'books' (value 0.5)"),
        files={"prior.yaml": "train:\n  train_web: 0.5\n  train_books: 0.5\n"},
    ),
    Case(
        "mixture YAML all zero",
        SIMULATE,
        ("prior.yaml", "all weights are zero"),
        files={"prior.yaml": "train:\n  train_web: 0\n  train_wiki: 0.0\n"},
    ),
    Case("mixture YAML empty", SIMULATE, ("prior.yaml", "is empty"), files={"prior.yaml": ""}),
]


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # the stages' `python` is this interpreter
    env["PYTHONPATH"] = str(root / "src")  # importing the copy's own library
    return env


def _command(run: str) -> list[str]:
    words = shlex.split(run)
    if words[0] == "dvc":
        return [str(BIN / "dvc"), *words[1:]]
    if words[0] == "regmix":
        return [sys.executable, "-m", "regmix.cli", *words[1:]]
    return [sys.executable, f"stages/{words[1]}", *words[2:]]  # "stage <script> ...": what DVC runs


def _run(cmd: list[str], root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=_env(root), timeout=300)


def _run_here(cmd: list[str], root: Path) -> subprocess.CompletedProcess:
    """A stage script or the `regmix` command (`_command`'s python commands) run in this process, from `root`,
    as its interpreter would run it: the script's `__main__`, or `regmix.cli.main`. What a row tests is the
    error path, and a process per row would spend its seconds importing the same libraries again. A traceback
    of an uncaught exception goes to the row's stderr, where the row looks for it."""
    out, err, code = io.StringIO(), io.StringIO(), 0
    cwd, argv = os.getcwd(), sys.argv
    hidden = {k: os.environ.pop(k) for k in ("MLFLOW_TRACKING_URI", "DVC_ROOT") if k in os.environ}
    try:
        os.chdir(root)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                if cmd[1:3] == ["-m", "regmix.cli"]:
                    sys.argv = ["regmix", *cmd[3:]]
                    code = cli.main(cmd[3:])
                else:
                    sys.argv = cmd[1:]
                    runpy.run_path(cmd[1], run_name="__main__")
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(cwd)
        sys.argv = argv
        os.environ.update(hidden)
    return subprocess.CompletedProcess(cmd, code, out.getvalue(), err.getvalue())


def _snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every file of the project but git's and DVC's own, params.yaml (which rows edit) and
    the copy of dvc.lock that every stage start refreshes (`regmix.stage.keep_lock`)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not re.match(r"(\.git|\.dvc)/|params\.yaml$|\.regmix-tmp/dvc\.lock$|.*__pycache__", rel):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _set(doc: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[leaf] = value


def _expand(value, bad: Path):
    if isinstance(value, str):
        return value.format(bad=bad)
    if isinstance(value, dict):
        return {k: _expand(v, bad) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-inputs")
    for name in ("dvc.yaml", "stages", "src", ".dvc", ".gitignore", "pyproject.toml"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("cache", "tmp", "__pycache__"))
        else:
            shutil.copy(src, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], [*git, "commit", "-qm", "init"]):
        _run(cmd, root)
    p = _run([str(BIN / "dvc"), "repro", "domains", "tokenize", "mixtures"], root)
    assert p.returncode == 0, p.stdout + p.stderr
    # a fitted model, for `regmix predict` and `simulate`: losses of the 6 sampled mixtures
    rows = (root / "data/mixtures/mixtures.csv").read_text().splitlines()[1:]
    losses = "".join(f"{r.split(',')[0]},{3 + float(r.split(',')[1]) - float(r.split(',')[3]):.4f}\n" for r in rows)
    (root / "fit-inputs").mkdir()
    (root / "fit-inputs/losses.csv").write_text("index,metric/target_val_loss\n" + losses)
    fit = "regmix fit --mixtures data/mixtures/mixtures.csv --losses fit-inputs/losses.csv"
    p = _run(_command(fit + " --target metric/target_val_loss --out fit --candidates linear --folds 3"), root)
    assert p.returncode == 0, p.stdout + p.stderr
    shutil.copytree(root / "data", _pristine(root))  # puts back what DVC deletes before running a stage
    return root


def _pristine(root: Path) -> Path:
    return root.with_name(root.name + "-pristine-data")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(project, case, tmp_path):
    bad = tmp_path
    for name, content in case.files.items():
        path = bad / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    params_file = project / "params.yaml"
    original = params_file.read_bytes()
    params = yaml.safe_load(original)
    for key, value in case.params.items():
        _set(params, key, _expand(value, bad))
    if isinstance(case.params_text, bytes):
        params_file.write_bytes(case.params_text)
    elif case.params_text:
        params_file.write_text(original.decode().replace(*case.params_text))
    else:
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    before = _snapshot(project)
    cmd = _command(case.run.format(bad=bad))
    try:
        p = _run(cmd, project) if case.run.startswith("dvc ") else _run_here(cmd, project)
    finally:
        params_file.write_bytes(original)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "Traceback" not in out, out
    if case.dvc_says:
        assert "ERROR:" in out and all(f in out for f in case.expect), out
    else:
        lines = [line for line in out.splitlines() if re.match(r"(regmix \w+: )?error: ", line)]
        assert len(lines) == 1, out
        assert all(f in lines[0] for f in case.expect) and "Fix: " in lines[0], lines[0]
    # Nothing changed, but the outputs DVC deleted before running a stage (in its cache; see the docstring).
    after = _snapshot(project)
    deleted = [STAGE_OUTS[s] for s in re.findall(r"Running stage '([^']+)'", out)]
    for out_dir in deleted:
        assert not (project / out_dir).exists(), f"{out_dir} was rewritten by a failed stage"
        pristine = _pristine(project) / Path(out_dir).name
        if pristine.is_dir():
            shutil.copytree(pristine, project / out_dir)
        else:
            shutil.copy2(pristine, project / out_dir)
    kept = {k: v for k, v in before.items() if not any(k == d or k.startswith(d + "/") for d in deleted)}
    assert {k: v for k, v in after.items() if k in kept or k not in before} == kept
    assert _snapshot(project) == before


def test_a_failed_dvc_stage_loses_nothing(project):
    """DVC deletes the outputs of a stage before running it; after a bad params.yaml fails the stage, dvc.lock
    still records them and `dvc checkout` brings them back from the cache, byte for byte."""
    before = _snapshot(project)
    params_file = project / "params.yaml"
    original = params_file.read_text()
    params_file.write_text(original.replace("  min_strength: 0.1\n", "  min_strength: 0\n"))
    try:
        p = _run(_command("dvc repro -s mixtures"), project)
    finally:
        params_file.write_text(original)
    assert p.returncode != 0 and "field mixtures.min_strength: value 0 " in p.stderr
    assert not (project / "data/mixtures").exists()
    assert _run(_command("dvc checkout mixtures"), project).returncode == 0
    assert _snapshot(project) == before
    status = _run(_command("dvc status --json"), project)
    assert not {k: v for k, v in json.loads(status.stdout).items() if k in STAGE_OUTS}, status.stdout
