"""The paper profile (`python -m regmix.profiles paper`), run by real DVC at tiny sizes, and a DVC remote round trip.

The test writes a tiny tree in sail/regmix-data's layout (the 17 Pile domains, `train/<d>-<k>-<n>.jsonl`
and `valid/...`) and a tiny BPE standing in for GPT-NeoX's tokenizer.json, switches a temporary copy
of the project to the paper's setup with `dvc exp run $(python -m regmix.profiles paper tiny ...)`,
and checks the paper's CSV columns, target and baselines. Then it pushes the results to a
local-directory DVC remote, clones the repo afresh, pulls, and `dvc repro` there retrains nothing.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import PAPER_DATA, REPO
from test_pipeline import _dvc, _ran, _run

from regmix.config.params import Params, build
from regmix.config.training import PAPER_PRESETS
from regmix.errors import InputError
from regmix.formats import read_mixture_yaml, read_mixtures_csv
from regmix.profiles import compose, compose_params, hydra_value, main, set_args
from regmix.tokenization.tokenizer import train_bpe
from regmix.training.model import paper_config

PILE = [
    "arxiv",
    "freelaw",
    "nih_exporter",
    "pubmed_central",
    "wikipedia_en",
    "dm_mathematics",
    "github",
    "philpapers",
    "stackexchange",
    "enron_emails",
    "gutenberg_pg_19",
    "pile_cc",
    "ubuntu_irc",
    "europarl",
    "hackernews",
    "pubmed_abstracts",
    "uspto_backgrounds",
]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def _params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


# ---------------------------------------------------------------- the profile itself (fast)


def test_paper_profile_has_the_papers_settings():
    doc, _ = compose_params(
        _params(), ["paper"], {"domains.path": "/data/regmix-data", "tokenizer.path": "/data/tokenizer.json"}
    )
    params = build(Params, doc)
    assert set(compose(["paper"])[1]) == {"domains.path", "tokenizer.path"}
    assert (
        params.domains.source == "local"
        and params.domains.target == "the_pile_pile_cc"
        and params.domains.prefix == "the_pile_"
    )
    assert params.sweep.n_proxies == 512
    assert params.proxy.model == PAPER_PRESETS["regmix-1m"] and params.large.model == PAPER_PRESETS["regmix-1b"]
    p, l = params.proxy.train, params.large.train
    assert (p.batch_size, p.steps(2048), p.lr, p.schedule, p.warmup_steps) == (512, 1000, 4e-4, "constant", 100)
    # the target is evaluated as every domain (the default's larger target budget is not inherited)
    assert p.eval_budget(params.domains.target, params.domains.target) == p.eval_tokens == 1_638_400
    assert l.eval_budget(params.domains.target, params.domains.target) == l.eval_tokens == 409_600
    assert (l.batch_size, l.steps(2048), l.lr, l.min_lr, l.schedule) == (512, 25_000, 4e-4, 1e-5, "cosine")
    m = params.mixtures
    assert (m.temperature, m.min_strength, m.max_strength, m.max_epochs, m.min_weight) == (0.5, 0.1, 5.0, 15.0, 2e-4)
    assert sorted(m.prior) == sorted("the_pile_" + d for d in PILE) and abs(sum(m.prior.values()) - 1) < 1e-6
    assert set(params.large.runs) == {
        "regmix",
        "human",
        "pile_cc_only",
        "doremi",
    }  # the defaults' runs are replaced, not merged
    assert set(params.baselines.mixtures) == {"human", "pile_cc_only", "doremi"}
    assert len(params.evaluate.tasks) == 13 and {"hellaswag", "arc_easy", "winogrande"} <= set(params.evaluate.tasks)


def test_validate_profile_is_the_papers_validation_at_the_defaults_scale():
    params = build(Params, compose_params(_params(), ["validate"])[0])
    assert params.validation.runs == list(range(16)) and params.large.seeds == [0, 1, 2]
    assert set(params.large.runs) == {"regmix", "prior", "uniform", "truth"}  # the default's runs, each 3 seeds


def test_paper_presets_are_the_papers_litgpt_configs():
    c1m, c1b = paper_config("regmix-1m"), paper_config("regmix-1b")
    assert (c1m.n_layer, c1m.n_head, c1m.n_embd, c1m.intermediate_size, c1m.block_size) == (2, 8, 256, 512, 2048)
    assert (c1b.n_layer, c1b.n_head, c1b.n_query_groups, c1b.n_embd, c1b.intermediate_size) == (22, 16, 16, 2048, 5632)
    for c in (c1m, c1b, paper_config("regmix-60m")):
        assert c.padded_vocab_size == 50432 and c.mlp_class_name == "LLaMAMLP" and c.norm_class_name == "RMSNorm"
        assert c.rotary_percentage == 1.0 and not c.bias
    # GPT-NeoX's tokenizer has 50,277 tokens; the embedding is padded to the paper's 50432
    assert paper_config("regmix-1m", 50277).padded_vocab_size == 50432
    with pytest.raises(InputError, match="padded_vocab_size"):
        paper_config("regmix-1m", 60000)


def test_profile_errors_and_hydra_values():
    with pytest.raises(InputError, match="give --data"):
        compose_params(_params(), ["paper"])
    with pytest.raises(InputError, match="not found"):
        compose(["no-such-profile"])
    with pytest.raises(InputError, match="proxy.train.lr"):
        compose_params(_params(), ["tiny"], {"proxy.train.lr": -1})
    # a --set inside a mapping of names sets that one key; the profile's mapping replaces the default's
    doc, args = compose_params(_params(), ["tiny"], {"large.runs.extra": "models/x.yaml"})
    assert doc["large"]["runs"] == {**_params()["large"]["runs"], "extra": "models/x.yaml"}
    assert args[-2:] == ["-S", "++large.runs.extra='models/x.yaml'"]
    with pytest.raises(InputError, match="spaces"):
        hydra_value("/my data")
    assert hydra_value({"a": [1, 2.5, None, True], "b": "x/y.yaml"}) == "{a:[1,2.5,null,true],b:'x/y.yaml'}"
    # mappings of names are replaced (delete, then add); sections are merged; unchanged values are left out
    args = set_args({"large": {"runs": {"x": "x.yaml"}, "threads": 2, "train": {"lr": 0.1}}}, _params())
    assert args == ["-S", "~large.runs", "-S", "+large.runs={x:'x.yaml'}", "-S", "++large.train.lr=0.1"]


def test_profile_command_prints_arguments_or_applies(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    (tmp_path / "data").mkdir()
    (tmp_path / "tok.json").write_text("{}")
    common = [
        "paper",
        "--data",
        str(tmp_path / "data"),
        "--tokenizer",
        str(tmp_path / "tok.json"),
        "--params",
        str(params),
    ]
    assert main(common) == 0
    printed = capsys.readouterr().out.split()
    assert f"++domains.path='{tmp_path / 'data'}'" in printed and "++domains.target='the_pile_pile_cc'" in printed
    assert main(common + ["--apply"]) == 0
    applied = yaml.safe_load(params.read_text())
    assert applied["domains"]["path"] == str(tmp_path / "data") and applied["sweep"]["shard_size"] == 32
    assert main(["paper", "--params", str(params), "--data", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


# ---------------------------------------------------------------- the paper profile, run by DVC at tiny size


def write_pile_tree(root: Path, seed: int = 0) -> dict[str, list[str]]:
    """A tiny tree in sail/regmix-data's layout: 17 Pile domains, a few documents each, with their valid files."""
    rng = random.Random(seed)
    shared = [f"w{i}" for i in range(40)]
    texts = {}
    for n, domain in enumerate(PILE):
        own = [f"{domain[:4]}{i}" for i in range(25)]
        n_train = 16 if domain == "pile_cc" else 8
        docs = [
            " ".join(rng.choice(own if rng.random() < 0.6 else shared) for _ in range(40)) for _ in range(n_train + 4)
        ]
        texts[domain] = docs
        for split, part, k in (("train", docs[:n_train], 7 + n), ("valid", docs[n_train:], 0)):
            (root / split).mkdir(parents=True, exist_ok=True)
            with open(root / split / f"{domain}-{k}-{1000 + n}.jsonl", "w") as f:
                f.writelines(json.dumps({"text": t}) + "\n" for t in part)
    return texts


@pytest.fixture(scope="module")
def paper_project(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("paper")
    texts = write_pile_tree(tmp / "regmix-data")
    train_bpe((t for docs in texts.values() for t in docs), 300).save(
        str(tmp / "tokenizer.json")
    )  # stands in for GPT-NeoX's
    root = tmp / "project"
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml", "profiles", "stages", "src", ".dvc", ".gitignore", "pyproject.toml"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("cache", "tmp", "__pycache__"))
        else:
            shutil.copy(src, root / name)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], GIT + ["commit", "-qm", "init"]):
        _run(cmd, root)
    # the switch, exactly as the README gives it (plus `tiny`)
    args = _run(
        [
            sys.executable,
            "-m",
            "regmix.profiles",
            "paper",
            "tiny",
            "--data",
            str(tmp / "regmix-data"),
            "--tokenizer",
            str(tmp / "tokenizer.json"),
        ],
        root,
    ).split()
    # (to stay quick, only RegMix's large model is trained; the baselines' mixture files are still written and checked)
    drop = [a for b in ("human", "doremi", "pile_cc_only") for a in ("-S", f"~large.runs.{b}")]
    out = _run(_dvc("exp", "run", "-n", "paper-tiny", *args, *drop), root)
    assert {f"encode@the_pile_{d}" for d in PILE} | {
        "domains",
        "tokenizer",
        "tokenize",
        "mixtures",
        "proxies@0",
        "collect",
        "regression",
        "simulation",
        "baselines",
        "encode_test",
        "run_mixture@regmix",
        "large@regmix-0",
        "evaluate@regmix-0",
        "score",
        "report",
    } == _ran(out), out
    _run(["git", "add", "-A"], root)
    _run(GIT + ["commit", "-qm", "paper profile, tiny"], root)
    return {"root": root, "tmp": tmp}


def test_paper_profile_pipeline_writes_the_papers_formats(paper_project):
    root = paper_project["root"]
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["domains"]["target"] == "the_pile_pile_cc" and params["mixtures"]["temperature"] == 0.5
    assert set(params["large"]["runs"]) == {"regmix"}
    domains = ["the_pile_" + d for d in PILE]
    # the paper's mixture CSV: index, train_the_pile_<domain> (the same 17 columns as train_mixture_1m.csv)
    header = (root / "data/mixtures/mixtures.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "index" and sorted(header[1:]) == sorted("train_" + d for d in domains)
    # the paper's losses CSV: index, metric/the_pile_<domain>_val_loss, target metric/the_pile_pile_cc_val_loss
    losses = (root / "data/proxies/losses.csv").read_text().splitlines()
    cols = losses[0].split(",")
    assert cols[0] == "index" and sorted(cols[1:]) == sorted(f"metric/{d}_val_loss" for d in domains)
    assert "metric/the_pile_pile_cc_val_loss" in cols and len(losses) == 1 + 8
    if PAPER_DATA.is_dir():  # the released CSVs use exactly these names
        paper_cols = (PAPER_DATA / "train_pile_loss_1m.csv").read_text().splitlines()[0].split(",")
        assert set(paper_cols) <= set(cols)
        assert len(read_mixtures_csv(PAPER_DATA / "train_mixture_1m.csv", domains)) == 512
    optimal = yaml.safe_load((root / "models/optimal_mixture.yaml").read_text())
    assert optimal["valid"] == {"valid_the_pile_pile_cc": 1.0} and len(optimal["train"]) == 17
    # the paper's baselines, normalized; the human mixture keeps the paper's proportions
    human = read_mixture_yaml(root / "models/baselines/human.yaml", domains)
    assert (
        abs(sum(human.values()) - 1) < 1e-9
        and abs(human["the_pile_arxiv"] / human["the_pile_pile_cc"] - 0.1052 / 0.1121) < 1e-9
    )
    assert read_mixture_yaml(root / "models/baselines/pile_cc_only.yaml", domains)["the_pile_pile_cc"] == 1.0
    doremi = read_mixture_yaml(root / "models/baselines/doremi.yaml", domains)
    assert abs(sum(doremi.values()) - 1) < 1e-9 and doremi["the_pile_pile_cc"] > 0.6
    metrics = json.loads((root / "reports/metrics.json").read_text())
    assert set(metrics["large_target_loss"]) == {"regmix"}
    # regmix-data has no test split: the report says the large models are scored on the selection data, and the
    # downstream task written from the target's test documents is left out (the paper's tasks need their datasets)
    assert metrics["large_scored_on"] == "valid (no test split: the data that chose the mixture)"
    evaluated = json.loads((root / "data/evaluate/regmix/seed-0/results.json").read_text())
    assert evaluated["tasks"] == {} and "no held-out test documents" in evaluated["local_task"]["left_out"]
    assert "downstream" not in metrics
    assert "paper-tiny" in _run(_dvc("exp", "list", "--all-commits", "--name-only"), root)


def test_dvc_remote_round_trip_retrains_nothing(paper_project):
    """Push to a local-directory remote, clone afresh, `dvc pull`: `dvc repro` there runs no stage."""
    root, tmp = paper_project["root"], paper_project["tmp"]
    remote = tmp / "dvc-remote"
    _run(_dvc("remote", "add", "-d", "shared", str(remote)), root)
    _run(GIT + ["commit", "-qam", "DVC remote"], root)
    _run(_dvc("push"), root)
    assert any(remote.rglob("*")), "nothing was pushed"
    fresh = tmp / "fresh"
    _run(["git", "clone", "-q", str(root), str(fresh)], tmp)
    assert not (fresh / "models").exists()
    _run(_dvc("pull"), fresh)
    assert (fresh / "models/large/regmix/seed-0/lit_model.pth").is_file() and (
        fresh / "data/proxies/losses.csv"
    ).is_file()
    out = _run(_dvc("repro"), fresh)
    assert _ran(out) == set(), out
    assert "up to date" in _run(_dvc("status"), fresh).lower()
    assert (fresh / "data/proxies/losses.csv").read_bytes() == (root / "data/proxies/losses.csv").read_bytes()


def test_skypilot_task_runs_the_profile_and_shares_results():
    task = yaml.safe_load((REPO / "deploy/skypilot-paper.yaml").read_text())
    assert "accelerators" in task["resources"]
    run = task["run"]
    for cmd in ("dvc pull", "dvc exp run", "python -m regmix.profiles paper", "dvc push", "dvc exp push"):
        assert cmd in run, cmd
    assert "MLFLOW_TRACKING_URI" in task["envs"]
    assert run.index("dvc pull") < run.index("dvc exp run") < run.index("dvc push")
    subprocess.run(["bash", "-n"], input=task["setup"] + "\n" + run, text=True, check=True)  # valid shell
    # the node's extra -S arguments name real params and valid values
    extra = task["envs"]["EXTRA_ARGS"].split()
    assert extra[::2] == ["-S"] * (len(extra) // 2)
    sets = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in extra[1::2])}
    compose_params(_params(), ["paper"], {**sets, "domains.path": "/d", "tokenizer.path": "/t.json"})
