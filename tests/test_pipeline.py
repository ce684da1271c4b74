"""The whole pipeline, run by real DVC at a tiny size in a temporary copy of the repo.

One module-scoped run, then: byte-identical losses, MLflow contents, a no-op rerun, a killed
write that changes no stage, code edits that rerun exactly the stages running the edited module,
SIGKILLs of `dvc repro` in the sweep, around the regression and in the large model's training
(the reruns finish with the uninterrupted run's results), new test documents (only the scoring is left
to run), a queued experiment that grows the sweep and the validation (reruns exactly what they reach),
bad input. The tests run in this order and share the project.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from mlflow.tracking import MlflowClient
from test_files import _HOLD

from regmix.files import TMP_DIR
from regmix.imports import import_closure
from regmix.stage import LOCK_COPY

TINY = {
    "domains": {
        "synthetic": {
            "domains": {
                "web": {"cluster": 0, "train_docs": 80, "share": 0.6},
                "wiki": {"cluster": 0, "train_docs": 60, "share": 0.5},
                "code": {"cluster": 1, "train_docs": 60, "share": 0.5},
            },
            "target_weights": {"wiki": 0.7, "code": 0.3},
            "valid_docs": 8,
            "test_docs": 8,
            # the tiny corpus the expectations below were measured on (e.g. 9 proxies move RegMix's mixture)
            "common_share": 0.0,
        }
    },
    "tokenizer": {"vocab_size": 300},
    "tokenize": {"domains": ["web", "wiki", "code", "target"]},
    "sweep": {"shards": [0, 1], "shard_size": 3},
    "proxy": {
        "model": {"n_layer": 1, "n_head": 2, "n_embd": 32, "intermediate_size": 64, "block_size": 32},
        "train": {"tokens": 1024, "batch_size": 8, "warmup_steps": 1, "eval_every": 2, "eval_tokens": 256},
    },
    "regression": {"candidates": ["linear", "loglinear"], "folds": 3, "n_bootstrap": 50},
    "validation": {"runs": []},  # the queued experiment adds one
    # within the tiny models' 32-token window; one thread beside the other xdist worker (2 oversubscribe 2 cores)
    "evaluate": {"prefix_words": 8, "continuation_words": 4, "threads": 1},
    "simulation": {"n_candidates": 5000, "top_k": 10, "n_bootstrap": 2, "bootstrap_candidates": 2000},
    "large": {
        "model": {"n_layer": 1, "n_head": 2, "n_embd": 48, "intermediate_size": 96, "block_size": 32},
        "train": {
            "tokens": 2048,
            "batch_size": 8,
            "warmup_steps": 1,
            "eval_every": 4,
            "eval_tokens": 256,
            "schedule": "cosine",
        },
        "threads": 1,  # beside the other xdist worker: one thread per process on 2 cores
    },
}


def _merge(base: dict, over: dict) -> dict:
    """`over` merged into `base`, recursively."""
    for k, v in over.items():
        base[k] = _merge(base.get(k) or {}, v) if isinstance(v, dict) else v
    return base


def _env(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    # the stages' `python` is this interpreter, importing the copy's own library
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(cwd / "src")
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        env.setdefault(var, "regmix-test")  # `dvc exp run` commits; CI may have no git identity
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        env.setdefault(var, "regmix-test@localhost")
    return env


def _run(cmd: list[str], cwd: Path, check: bool = True) -> str:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_env(cwd), timeout=600)
    out = p.stdout + p.stderr
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{out[-4000:]}")
    return out


def _ran(out: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", out))


def _dvc(*args) -> list[str]:
    return [str(Path(sys.executable).parent / "dvc"), *args]


def _status(cwd: Path) -> set[str]:
    """The stages `dvc status` reports changed (a foreach stage as DVC names it: `proxies@0`)."""
    p = subprocess.run(_dvc("status", "--json"), cwd=cwd, capture_output=True, text=True, env=_env(cwd), timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return set(json.loads(p.stdout))


def _temp_leftovers(root: Path) -> list[str]:
    """Temporary entries of atomic writes anywhere in the project: in a `.regmix-tmp/` (but the copy of dvc.lock
    every stage keeps at the root's, `regmix.stage.keep_lock`), or an older `.<name>.*.tmp`."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.relative_to(root).parts[0] not in (".git", ".dvc")
        and (
            (p.parent.name == TMP_DIR and p.relative_to(root).as_posix() != LOCK_COPY)
            or (p.name == TMP_DIR and p.parent != root)
            or (p.name.startswith(".") and p.name.endswith(".tmp"))
        )
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for name in ("dvc.yaml", "stages", "src", ".dvc", ".gitignore", ".dvcignore", "pyproject.toml"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("cache", "tmp", "__pycache__"))
        else:
            shutil.copy(src, root / name)
    params = _merge(yaml.safe_load((REPO / "params.yaml").read_text()), TINY)
    params["domains"]["synthetic"].update(TINY["domains"]["synthetic"])  # replace, not merge, the domain lists
    # two large runs, RegMix's and the prior's
    params["large"]["runs"] = {k: v for k, v in params["large"]["runs"].items() if k in ("regmix", "prior")}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
    ):
        _run(cmd, root)
    out = _run(_dvc("repro"), root)
    assert {
        "domains",
        "tokenize",
        "mixtures",
        "proxies@0",
        "proxies@1",
        "collect",
        "regression",
        "simulation",
        "baselines",
        "encode_test",
        "run_mixture@regmix",
        "large@regmix-0",
        "large@prior-0",
        "evaluate@regmix-0",
        "score",
        "report",
    } <= _ran(out)
    _run(["git", "add", "-A"], root)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "repro"], root)
    return root


def test_outputs(project):
    losses = (project / "data/proxies/losses.csv").read_text().splitlines()
    assert losses[0] == "index,metric/code_val_loss,metric/target_val_loss,metric/web_val_loss,metric/wiki_val_loss"
    assert [r.split(",")[0] for r in losses[1:]] == ["1", "2", "3", "4", "5", "6"]
    optimal = yaml.safe_load((project / "models/optimal_mixture.yaml").read_text())
    assert set(optimal["train"]) == {"train_web", "train_wiki", "train_code"} and optimal["valid"] == {
        "valid_target": 1.0
    }
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert set(metrics["large_target_loss"]) == {"regmix", "prior"}
    assert "prior" in metrics["regmix_minus"] and "regression" in metrics
    # the large models are scored on the 8 held-out target documents, with paired intervals
    assert metrics["large_scored_on"] == "test (8 held-out target documents)"
    lo, hi = metrics["regmix_minus_ci95"]["prior"]
    assert lo <= metrics["regmix_minus"]["prior"] <= hi and lo < hi
    scores = (project / "data/scores/regmix/seed-0.csv").read_text().splitlines()
    assert scores[0] == "domain,document,tokens,nll" and sum(r.startswith("target,") for r in scores) == 8
    for name in ("regmix/seed-0", "prior/seed-0"):
        ckpt = project / "models/large" / name
        assert (ckpt / "lit_model.pth").is_file() and (ckpt / "model_config.yaml").is_file()
    # no validation models yet: the runs are ranked among themselves
    assert metrics["transfer"]["models"] == 0 and metrics["transfer"]["of"] == 2
    assert metrics["large_seeds"] == [0] and metrics["large_target_loss_by_seed"]["regmix"] == [
        metrics["large_target_loss"]["regmix"]
    ]
    summary = (project / "reports/summary.md").read_text()
    assert "Spearman" in summary and "figures/large_models.png" in summary
    assert (project / "reports/figures/large_models.png").stat().st_size > 1000


def test_litgpt_can_load_the_large_checkpoint(project):
    import torch
    from litgpt import Config
    from litgpt.model import GPT

    ckpt = project / "models/large/regmix/seed-0"
    model = GPT(Config.from_file(ckpt / "model_config.yaml"))
    state = torch.load(ckpt / "lit_model.pth", weights_only=True)
    model.load_state_dict(state.get("model", state))


def test_mlflow_has_the_sweep_every_proxy_and_the_large_models(project):
    client = MlflowClient(f"sqlite:///{project}/mlflow.db")
    exp = client.get_experiment_by_name("regmix")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    kinds = {}
    for r in runs:
        kinds.setdefault(r.data.tags.get("regmix.kind"), []).append(r)
    assert len(kinds["sweep"]) == 1 and len(kinds["proxy"]) == 6 and len(kinds["large"]) == 2
    sweep = kinds["sweep"][0]
    proxy = kinds["proxy"][0]
    assert proxy.data.tags["mlflow.parentRunId"] == sweep.info.run_id
    assert {"weight.web", "model.n_embd", "train.lr"} <= set(proxy.data.params)
    assert len(client.get_metric_history(proxy.info.run_id, "val_loss/target")) == 2  # steps 2 and 4
    assert "mlflow.source.git.commit" in proxy.data.tags and proxy.data.tags["dvc.stage"].startswith("proxies@")
    assert sweep.data.metrics["proxies"] == 6
    # the training time is MLflow's: in the checkpoint's folder it would make every retrain a change for DVC
    assert all(r.data.metrics["seconds"] > 0 for r in kinds["large"])
    # downstream: one lm-eval run per large run and seed, with the accuracy the report gives
    evaluated = {r.data.tags["mlflow.runName"]: r for r in kinds["evaluate"]}
    assert set(evaluated) == {"evaluate-regmix-0", "evaluate-prior-0"}
    results = json.loads((project / "data/evaluate/regmix/seed-0/results.json").read_text())["tasks"]
    acc = results["regmix_target_choice"]["acc"]
    assert evaluated["evaluate-regmix-0"].data.metrics["regmix_target_choice/acc"] == pytest.approx(acc)
    report = json.loads((project / "reports/metrics.json").read_text())["downstream"]["regmix_target_choice"]
    assert report["acc"]["regmix"] == pytest.approx(acc) and report["documents"] == 8


def test_mlflow_ui_serves_the_runs(project):
    """The real tracking server on the project's store, as `mlflow ui` in the README."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mlflow = str(Path(sys.executable).parent / "mlflow")
    server = subprocess.Popen(
        [
            mlflow,
            "ui",
            "--backend-store-uri",
            f"sqlite:///{project}/mlflow.db",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",  # the default 4 workers each import MLflow: a 2-core machine's time, for one request
        ],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        body = json.dumps({"experiment_ids": ["1"], "max_results": 100}).encode()
        for _ in range(120):
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search", body, {"Content-Type": "application/json"}
                )
                runs = json.loads(urllib.request.urlopen(req, timeout=5).read())["runs"]
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("mlflow ui did not answer")
        names = {r["info"]["run_name"] for r in runs}
        assert {"proxy-1", "proxy-6", "large-regmix-0", "large-prior-0", "evaluate-regmix-0"} <= names
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_losses_are_byte_identical_for_the_same_seed(project, tmp_path):
    """Retrain shard 0 from scratch (an empty cache): the same bytes as the pipeline's run."""
    _run(
        [
            sys.executable,
            "stages/train_proxies.py",
            "--shard",
            "0",
            "--tokens",
            "data/tokens",
            "--mixtures",
            "data/mixtures/shard-0.csv",
            "--out",
            str(tmp_path / "shard"),
            "--cache",
            str(tmp_path / "cache"),
        ],
        project,
    )
    assert (tmp_path / "shard" / "losses.csv").read_bytes() == (project / "data/shards/0/losses.csv").read_bytes()
    assert (tmp_path / "shard" / "curves.csv").read_bytes() == (project / "data/shards/0/curves.csv").read_bytes()


def test_repro_again_is_a_noop(project):
    t = time.perf_counter()
    out = _run(_dvc("repro"), project)
    assert _ran(out) == set(), out
    assert time.perf_counter() - t < 30  # generous on a loaded CI machine; the benchmark measures it


def test_a_new_seed_adds_exactly_its_stages(project):
    """`large.seeds` is a DVC matrix: one more seed is one more training stage per run, and nothing else retrains."""
    params = project / "params.yaml"
    original = params.read_text()
    doc = yaml.safe_load(original)
    doc["large"]["seeds"] = [0, 1]
    params.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        expected = {"large@regmix-1", "large@prior-1", "evaluate@regmix-1", "evaluate@prior-1", "score", "report"}
        assert _status(project) == expected
    finally:
        params.write_text(original)
    assert _status(project) == set()


def test_a_killed_write_changes_no_stage_and_the_next_write_removes_it(project):
    """A stage killed inside an atomic write leaves its temporary entry in `.regmix-tmp/`, which DVC ignores."""
    killed = subprocess.Popen(
        [sys.executable, "-c", _HOLD, "models/large/regmix/seed-0"],
        cwd=project,
        env=_env(project),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    leftover = Path(killed.stdout.readline().strip())  # a half-written checkpoint
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert leftover.parent.parent == project / TMP_DIR and (leftover / "lit_model.pth").is_file()
    # where the project's folder is on another file system, the entry goes beside the output: in `models/large/`,
    # a dependency of the report stage. DVC's hash of that folder must not see it (`.dvcignore`).
    beside = project / "models/large" / TMP_DIR / f"{leftover.parent.name}/seed-0"
    beside.mkdir(parents=True)
    (beside / "lit_model.pth").write_text("half-written")
    assert _status(project) == set()
    (project / "models/large/stray").write_text("x")  # the control: any other file there changes the stages reading it
    assert _status(project) == {"score", "report"}
    (project / "models/large/stray").unlink()
    shutil.rmtree(project / "models/large" / TMP_DIR)
    # the next stage that writes anything removes the dead process's entry
    assert _ran(_run(_dvc("repro", "--single-item", "--force", "baselines"), project)) == {"baselines"}
    assert not leftover.parent.exists() and _temp_leftovers(project) == []
    assert _status(project) == set()


# The stages whose script runs each module (also read from the scripts' import closures below).
EDITS = {
    "simulation/simulate.py": {"simulation"},
    "tokenization/tokenizer.py": {"tokenizer"},
    "training/loop.py": {"proxies@0", "proxies@1", "large@regmix-0", "large@prior-0"},
    "regression/cv.py": {"regression"},
}


def test_code_edits_rerun_exactly_the_stages_that_run_the_edited_module(project):
    """A real one-line edit of a module: `dvc status` names exactly the stages importing it; reverting restores it."""
    names = _run(_dvc("stage", "list", "--name-only"), project).split()
    spec = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    src = project / "src/regmix"

    def closure(name: str) -> set[Path]:
        stage = spec[name.split("@")[0]]
        script = next(d for d in (stage.get("do") or stage)["deps"] if d.startswith("stages/"))
        return import_closure(project / script, src)

    closures = {name: closure(name) for name in names}
    for module, expected in EDITS.items():
        assert {n for n in names if src / module in closures[n]} == expected, module
        path = src / module
        original = path.read_text()
        path.write_text(original + "\n_EDITED = 1\n")
        assert _status(project) == expected, module
        if module == "simulation/simulate.py":  # the one edit that is run: only its stage reruns
            assert _ran(_run(_dvc("repro"), project)) == expected
            path.write_text(original)
            assert _status(project) == expected  # dvc.lock holds the edited hash now
            _run(_dvc("repro"), project)  # DVC's run cache restores the unedited run's outputs
        else:
            path.write_text(original)
    assert _status(project) == set()


KILL_SEED = int(os.environ.get("REGMIX_KILL_SEED", "0"))  # another seed kills at other moments


def _cached(root: Path) -> list[Path]:
    return list((root / "data/cache/proxies").glob("*.json"))


# When to kill `dvc repro`, phase by phase: the seed picks one condition of each phase and a delay after it.
KILLS = {
    "sweep": [  # shards of 3 proxies, run one after the other
        ("a proxy of shard 0 is cached", lambda root, log: len(_cached(root)) >= 1),
        ("a proxy of shard 1 is cached", lambda root, log: len(_cached(root)) >= 4),
    ],
    "regression": [
        ("the regression runs", lambda root, log: "Running stage 'regression'" in log),
        ("the simulation runs", lambda root, log: "Running stage 'simulation'" in log),
    ],
    "large model": [
        ("its stage started", lambda root, log: "Running stage 'large@regmix-0'" in log),
        ("it trains", lambda root, log: "large model (regmix-0)" in log),
    ],
}


def test_sigkill_at_any_moment_then_repro_finishes_with_the_same_results(project, tmp_path):
    """`dvc repro` killed three times, each at a seeded random moment (in the sweep, around the regression, in the
    large model's training); then `dvc repro` finishes: finished proxies and stages are kept, no temporary entry is
    left anywhere, and the proxies' losses and the large model equal the uninterrupted run's, byte for byte, so
    the stages that read the model (its evaluation, the scoring, the report) have nothing to rerun."""
    assert _status(project) == set()
    losses = (project / "data/proxies/losses.csv").read_bytes()
    metrics = json.loads((project / "reports/metrics.json").read_text())
    large = {p.name: p.read_bytes() for p in (project / "models/large/regmix/seed-0").iterdir()}
    # the sweep and everything up to RegMix's large model as never run: no outputs, no proxy cache, no dvc.lock
    # entries, no run cache (else DVC checks out the results it has instead of running the stages)
    redo = {
        "proxies@0",
        "proxies@1",
        "collect",
        "regression",
        "simulation",
        "run_mixture@regmix",
        "large@regmix-0",
    }
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in redo:
        for out in lock["stages"].pop(stage)["outs"]:
            path = project / out["path"]
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (project / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    shutil.rmtree(project / "data/cache/proxies")
    shutil.rmtree(project / ".dvc/cache/runs")
    # what reads the removed outputs is changed too (a dependency is missing)
    assert _status(project) == redo | {"evaluate@regmix-0", "score", "report"}
    rng = random.Random(KILL_SEED)
    logs, cached_at_kill, shard_0_done = [], {}, False
    for phase, conditions in KILLS.items():
        what, condition = rng.choice(conditions)
        delay = rng.uniform(0, 2)
        log_path = tmp_path / f"killed-in-{phase.replace(' ', '-')}.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                _dvc("repro"),
                cwd=project,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**_env(project), "PYTHONUNBUFFERED": "1"},  # the log shows each stage as it starts
            )
            deadline = time.time() + 400
            while proc.poll() is None and time.time() < deadline and not condition(project, log_path.read_text()):
                time.sleep(0.1)
            assert proc.poll() is None, f"{phase}: `dvc repro` ended before {what}:\n{log_path.read_text()[-3000:]}"
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):  # after the large model, the rest may finish in the delay
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        logs.append(log_path.read_text())
        print(f"killed {delay:.2f} s after {what} ({phase}): ran {sorted(_ran(logs[-1]))}")
        # killed while DVC rewrote dvc.lock (in place): the README's recovery, the copy of the last whole one
        status = subprocess.run(_dvc("status"), cwd=project, capture_output=True, text=True, env=_env(project))
        if status.returncode and "dvc.lock' validation failed" in status.stderr:
            shutil.copyfile(project / LOCK_COPY, project / "dvc.lock")
            print("  dvc.lock was cut short by the kill: copied back from", LOCK_COPY)
        print(f"  temporary entries left: {_temp_leftovers(project)}")
        if phase == "sweep":
            cached_at_kill = {p: p.stat().st_mtime_ns for p in _cached(project)}
            shard_0_done = all((project / "data/shards/0" / f).is_file() for f in ("losses.csv", "curves.csv"))
    final = _run(_dvc("repro"), project)
    logs.append(final)
    resumed = set().union(*(_ran(out) for out in logs[1:]))
    if shard_0_done:
        assert "proxies@0" not in resumed  # a shard finished before the kill is not trained again
    # no finished proxy is trained again: its cache file is the one written before the kill
    assert {p: p.stat().st_mtime_ns for p in cached_at_kill} == cached_at_kill
    assert len(_cached(project)) == 6
    assert _status(project) == set()
    assert _temp_leftovers(project) == []
    assert (project / "data/proxies/losses.csv").read_bytes() == losses
    assert {p.name: p.read_bytes() for p in (project / "models/large/regmix/seed-0").iterdir()} == large
    assert not {"evaluate@regmix-0", "score", "report"} & _ran(final)  # nothing changed for them
    assert json.loads((project / "reports/metrics.json").read_text()) == metrics


def test_after_the_kills_every_mlflow_run_is_finished_or_killed(project):
    client = MlflowClient(f"sqlite:///{project}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("regmix").experiment_id], max_results=1000)
    unended = [(r.info.run_name, r.info.status) for r in runs if r.info.status not in ("FINISHED", "KILLED")]
    assert unended == []


def test_new_test_documents_rescore_every_model_and_retrain_nothing(project):
    """More held-out test documents: once `domains` and `encode_test` have written them, what DVC has left to run
    is the scoring alone: the downstream evaluations (their task is written from the test documents) and `score`.
    No tokenization, proxy, regression or large model reads the test split."""
    params = project / "params.yaml"
    original = params.read_text()
    doc = yaml.safe_load(original)
    doc["domains"]["synthetic"]["test_docs"] = 10
    params.write_text(yaml.safe_dump(doc, sort_keys=False))
    split = _dvc("repro", "--single-item", "domains", "encode_test")
    try:
        assert _ran(_run(split, project)) == {"domains", "encode_test"}
        assert _status(project) == {"evaluate@regmix-0", "evaluate@prior-0", "score"}
    finally:
        params.write_text(original)
    _run(split, project)
    assert _status(project) == set()


def test_a_queued_experiment_reruns_exactly_what_its_changes_reach(project):
    """One queued experiment grows the sweep by a shard and the transfer check by a validation model; it runs
    exactly what those reach: the new shard and what reads the proxies' losses (the regression refitted on 9
    proxies moves RegMix's mixture here, so RegMix's large model retrains and is evaluated again; the prior's
    does not), the new validation model, and the scoring. No old shard, no tokenization. `dvc exp run --queue`
    runs in a copy under .dvc/tmp/exps/; its MLflow runs still land in ./mlflow.db."""
    before = json.loads((project / "reports/metrics.json").read_text())
    optimal = (project / "models/optimal_mixture.yaml").read_text()
    sets = ["-S", "sweep.shards=[0,1,2]", "-S", "validation.runs=[0]"]
    _run(_dvc("exp", "run", "--queue", "-n", "queued-exp", *sets), project)
    _run(_dvc("queue", "start", "-j", "1"), project)
    # follow the experiment's log to its end, once the worker has taken it up (`dvc queue status` in a loop would
    # start a DVC process a second, on the cores the experiment runs on)
    for _ in range(60):
        out = _run(_dvc("queue", "logs", "--follow", "queued-exp"), project, check=False)
        if out.startswith("Following logs"):
            break
        time.sleep(2)  # not started yet
    assert "Success" in _run(_dvc("queue", "status"), project), out
    grow = {"mixtures", "proxies@2", "collect", "regression", "simulation"}
    moved = {"run_mixture@regmix", "large@regmix-0", "evaluate@regmix-0"}
    assert _ran(out) == grow | moved | {"validate@0", "score", "report"}, out
    client = MlflowClient(f"sqlite:///{project}/mlflow.db")
    runs = client.search_runs(
        [client.get_experiment_by_name("regmix").experiment_id], "tags.`dvc.exp_name` = 'queued-exp'", max_results=100
    )
    # the runs the experiment adds: the grown sweep's (named after the experiment), its new shard's proxies, the
    # validation model, and RegMix's retrained model and its evaluation
    assert sorted(r.data.tags["mlflow.runName"] for r in runs) == [
        "evaluate-regmix-0",
        "large-regmix-0",
        "large-validation-0",
        "proxy-7",
        "proxy-8",
        "proxy-9",
        "queued-exp",
    ]
    sweep = next(r for r in runs if r.data.tags["mlflow.runName"] == "queued-exp")
    assert sweep.data.tags["regmix.kind"] == "sweep" and sweep.data.metrics["proxies"] == 9
    assert not list((project / ".dvc" / "tmp").rglob("mlflow.db"))
    _run(_dvc("exp", "apply", "queued-exp"), project)  # the experiment's results, into the workspace
    after = json.loads((project / "reports/metrics.json").read_text())
    assert len((project / "data/proxies/losses.csv").read_text().splitlines()) == 1 + 9
    assert (project / "models/optimal_mixture.yaml").read_text() != optimal
    # the prior's model is the same on the same documents; RegMix's is another
    assert after["large_target_loss"]["prior"] == before["large_target_loss"]["prior"]
    assert after["large_target_loss"]["regmix"] != before["large_target_loss"]["regmix"]
    # the validation model is ranked with the runs by its test loss
    losses = json.loads((project / "data/scores/test_loss.json").read_text())
    everyone = sorted(v["target"] for v in losses.values() if v)
    assert after["transfer"]["models"] == 1 and after["transfer"]["of"] == 3
    mean = {run: after["large_target_loss"][run] for run in ("regmix", "prior")}
    assert after["transfer"]["rank"] == {run: 1 + sum(x < v - 1e-6 for x in everyone) for run, v in mean.items()}


# runs a stage script as `python <script> <args>` does, then prints which heavy libraries it had imported
_HEAVY = (
    "import runpy, sys\nsys.argv = sys.argv[1:]\ntry:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "finally:\n    print('imported:', sorted(m for m in ('torch', 'lightning', 'mlflow') if m in sys.modules))"
)


def test_bad_mixture_file_is_a_clear_error(project):
    """Reported before torch, Lightning and MLflow load."""
    (project / "models/baselines/uniform.yaml").write_text("train:\n  train_web: -1\n  train_wiki: 2\n")
    out = _run(
        [
            sys.executable,
            "-c",
            _HEAVY,
            "stages/train_large.py",
            "--name",
            "uniform",
            "--seed",
            "0",
            "--mixture",
            "models/baselines/uniform.yaml",
            "--tokens",
            "data/tokens",
            "--out",
            "/tmp/unused-large",
        ],
        project,
        check=False,
    )
    assert "error: models/baselines/uniform.yaml, field 'web': weight -1 is negative" in out
    assert "Traceback" not in out and "imported: []" in out
