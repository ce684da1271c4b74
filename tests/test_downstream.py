"""Downstream evaluation with lm-eval-harness: the local multiple-choice task is what it claims to be, lm-eval
scores the litgpt model exactly as the model itself does, a trained model beats chance, and bad input is one
clear line."""

import argparse
import dataclasses
import json
import re
import runpy
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import REPO, tiny_synthetic
from lightning.fabric import Fabric
from mlflow.tracking import MlflowClient

from regmix.config.evaluation import LOCAL_TASK, EvaluateParams
from regmix.config.params import Params, build
from regmix.config.training import ModelConfig
from regmix.data.synthetic import generate
from regmix.errors import InputError
from regmix.evaluation.choice_task import build_choice_task, task_yaml, write_choice_task
from regmix.evaluation.downstream import Evaluation, evaluate_checkpoint, load_lm, log_evaluation
from regmix.evaluation.heldout import load_checkpoint
from regmix.layout import index_layout, write_layout
from regmix.token_store import TokenStore
from regmix.tracking import Tracker
from regmix.training.checkpoint import save_litgpt_checkpoint
from regmix.training.model import build_model

TINY = ModelConfig(n_layer=1, n_head=2, n_embd=32, intermediate_size=64, block_size=64)
# the tiny corpus's documents have 30 to 60 words: 12 + 6 keeps them all
CFG = EvaluateParams(prefix_words=12, continuation_words=6, batch_size=8)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as the tests' stages use (evaluate.threads): on 2 shared cores two threads can be 7x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _words(domain: str, doc: int, n: int) -> str:
    """Words that name their domain, document and position: w3 of alpha's document 2 is `alpha2w3`."""
    return " ".join(f"{domain}{doc}w{j}" for j in range(n))


def _layout(root, test: dict[str, list[int]]):
    """A layout whose test documents have the given lengths in words (train and valid: one document each)."""
    splits = {
        "train": {d: [_words(d, 99, 5)] for d in test if d != "target"},
        "valid": {d: [_words(d, 98, 5)] for d in test},
        "test": {d: [_words(d, k, n) for k, n in enumerate(lengths)] for d, lengths in test.items() if lengths},
    }
    write_layout(root, splits, {})
    index_layout(root)
    return root


@pytest.fixture(scope="module")
def words_layout(tmp_path_factory):
    # target document 2 is too short for 6 + 4 words; so are alpha's 1 and beta's 0
    lengths = {"target": [12, 10, 9, 30, 11, 10, 15, 40], "alpha": [14, 5, 20, 10], "beta": [3, 16, 11, 10, 12]}
    return _layout(tmp_path_factory.mktemp("words") / "domains", lengths)


def test_the_true_choice_is_the_documents_next_words_and_the_others_come_from_other_domains(words_layout):
    cfg = EvaluateParams(prefix_words=6, continuation_words=4, choices=4, seed=3)
    task = build_choice_task(words_layout, "target", cfg)
    assert task.skipped == 1 and [d["document"] for d in task.docs] == [0, 1, 3, 4, 5, 6, 7]
    long_enough = {"alpha": [0, 2, 3], "beta": [1, 2, 3, 4]}  # 10 words or more
    spans = {(d, k): _words(d, k, 10).split()[6:10] for d, ks in long_enough.items() for k in ks}
    for q in task.docs:
        k = q["document"]
        assert q["context"] == " ".join(f"target{k}w{j}" for j in range(6))
        assert q["choices"][q["label"]] == " ".join(f"target{k}w{j}" for j in range(6, 10))
        assert len(set(q["choices"])) == 4 and q["sources"][q["label"]] == "target"
        for i, choice in enumerate(q["choices"]):
            if i != q["label"]:  # a distractor: words 6..9 of a long enough document of another domain
                domain, doc = re.fullmatch(r"([a-z]+)(\d+)w6", choice.split()[0]).groups()
                doc = int(doc)
                assert q["sources"][i] == domain and domain != "target"
                assert choice.split() == spans[(domain, doc)]
    labels = [q["label"] for q in task.docs]
    assert len(set(labels)) > 1  # the true continuation is not always in the same place
    again, other = (
        build_choice_task(words_layout, "target", cfg),
        build_choice_task(words_layout, "target", dataclasses.replace(cfg, seed=4)),
    )
    assert again.docs == task.docs
    assert [q["choices"] for q in other.docs] != [q["choices"] for q in task.docs]
    assert [q["context"] for q in other.docs] == [q["context"] for q in task.docs]


def test_the_task_file_and_yaml_are_what_lm_eval_reads(words_layout, tmp_path):
    task = build_choice_task(words_layout, "target", EvaluateParams(prefix_words=6, continuation_words=4, choices=3))
    write_choice_task(task, tmp_path / "task.jsonl")
    lines = (tmp_path / "task.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == task.docs and all(len(q["choices"]) == 3 for q in task.docs)
    config = yaml.safe_load(task_yaml(tmp_path / "task.jsonl", tmp_path / "cache"))
    assert config["task"] == LOCAL_TASK and config["output_type"] == "multiple_choice"
    assert config["dataset_kwargs"]["data_files"] == {"test": str((tmp_path / "task.jsonl").resolve())}
    assert [m["metric"] for m in config["metric_list"]] == ["acc", "acc_norm"]


@pytest.fixture(scope="module")
def trained(tokens_dir, tmp_path_factory):
    """A tiny random litgpt model, saved as the large stage saves it."""
    store = TokenStore(tokens_dir)
    torch.manual_seed(0)
    model = build_model(TINY, store.vocab_size)
    out = tmp_path_factory.mktemp("large") / "truth"
    fabric = Fabric(accelerator="cpu", devices=1)
    save_litgpt_checkpoint(fabric, model, TINY, store.vocab_size, store.root / "tokenizer.json", out, "regmix-large-t")
    return out


@pytest.fixture(scope="module")
def task_layout(tmp_path_factory):
    """The tiny corpus again (the same domains and training documents) with 60 test documents per domain."""
    cfg = dataclasses.replace(tiny_synthetic(), test_docs=60)
    root = tmp_path_factory.mktemp("task") / "domains"
    write_layout(root, generate(cfg), {}, docs_per_file=25)
    index_layout(root)
    return root


@pytest.fixture(scope="module")
def evaluated(trained, task_layout, tmp_path_factory):
    task = build_choice_task(task_layout, "target", CFG)
    path = tmp_path_factory.mktemp("eval") / "task.jsonl"
    write_choice_task(task, path)
    return task, path, evaluate_checkpoint(trained, CFG, path)


@torch.no_grad()
def _loglikelihood(model, tokenizer, eos_id: int, context: str, choice: str) -> float:
    """log P(" " + choice | EOS + context) summed over its tokens, by the litgpt model itself, one at a time."""
    n = len(tokenizer.encode(f"{context} {choice}").ids) - len(tokenizer.encode(context).ids)
    tokens = torch.tensor([eos_id, *tokenizer.encode(f"{context} {choice}").ids])[-65:]  # block_size + 1
    logprobs = F.log_softmax(model(tokens[None, :-1])[0].double(), -1)
    return float(logprobs[-n:].gather(1, tokens[-n:, None]).sum())


def test_lm_eval_scores_the_choices_as_the_litgpt_model_does(evaluated, trained):
    task, _, result = evaluated
    metrics = result.metrics[LOCAL_TASK]
    assert metrics["documents"] == len(task.docs) == 60
    lm = load_lm(trained, 1)
    model, tok = load_checkpoint(trained), lm.tokenizer_
    hand = np.array([[_loglikelihood(model, tok, lm.eos_id, q["context"], c) for c in q["choices"]] for q in task.docs])
    lm_eval = np.array([[r[0] for r in s["filtered_resps"]] for s in result.samples[LOCAL_TASK]])
    np.testing.assert_allclose(lm_eval, hand, rtol=1e-5, atol=1e-4)
    labels = np.array([q["label"] for q in task.docs])
    lengths = np.array([[len(c) for c in q["choices"]] for q in task.docs])
    assert metrics["acc"] == np.mean(hand.argmax(1) == labels)
    assert metrics["acc_norm"] == np.mean((hand / lengths).argmax(1) == labels)
    acc = metrics["acc"]
    assert metrics["acc_stderr"] == pytest.approx(np.sqrt(acc * (1 - acc) / (len(labels) - 1)))


def test_batching_padding_and_truncation_change_no_score(trained):
    one, many = load_lm(trained, 1), load_lm(trained, 16)
    text = "ba " * 120  # longer than block_size (64 tokens): scored on its last 65 tokens
    requests = [((None, None), one.tok_encode(text[:n]), one.tok_encode(" ba ba")) for n in (30, 90, 360)]
    alone, batched = one._loglikelihood_tokens(requests), many._loglikelihood_tokens(requests)
    np.testing.assert_allclose([a for a, _ in batched], [a for a, _ in alone], rtol=1e-5)
    model = load_checkpoint(trained)
    row = torch.tensor([*requests[2][1], *requests[2][2]][-65:])
    with torch.no_grad():
        logprobs = F.log_softmax(model(row[None, :-1])[0], -1)
    m = len(requests[2][2])
    expected = float(logprobs[-m:].gather(1, row[-m:, None]).sum())
    assert alone[2][0] == pytest.approx(expected, rel=1e-5)
    # a whole text (perplexity tasks): every token predicted, the first one after end-of-text
    tokens = torch.tensor([one.eos_id, *one.tok_encode("ba be bi bo")])
    with torch.no_grad():
        whole = F.log_softmax(model(tokens[None, :-1])[0], -1).gather(1, tokens[1:, None]).sum()
    (rolling,) = many.loglikelihood_rolling([types.SimpleNamespace(args=("ba be bi bo",))])
    assert rolling == pytest.approx(float(whole), rel=1e-5)


def test_limit_caps_the_documents(trained, evaluated):
    result = evaluate_checkpoint(trained, dataclasses.replace(CFG, limit=7), evaluated[1])
    assert result.metrics[LOCAL_TASK]["documents"] == 7
    assert result.raw["n-samples"][LOCAL_TASK] == {"original": 60, "effective": 7}


def test_bad_input_is_one_clear_line(trained, evaluated, words_layout, tmp_path):
    with pytest.raises(InputError, match=r"nowhere: directory not found\. Fix: point --model at a large model"):
        evaluate_checkpoint(tmp_path / "nowhere", CFG, evaluated[1])
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model_config.yaml").write_text((trained / "model_config.yaml").read_text())
    with pytest.raises(InputError, match=r"half: not a litgpt checkpoint \(lit_model.pth, tokenizer.json, tok"):
        evaluate_checkpoint(tmp_path / "half", CFG, evaluated[1])
    with pytest.raises(InputError, match=r"evaluate.tasks: unknown lm-eval task 'no_such_task'\. Fix: use regmix_"):
        evaluate_checkpoint(trained, dataclasses.replace(CFG, tasks=[LOCAL_TASK, "no_such_task"]), evaluated[1])
    no_test = _layout(tmp_path / "no-test", {"target": [], "alpha": [20, 20, 20, 20]})
    with pytest.raises(InputError, match=r"test-index.json: the target domain 'target' has no test documents"):
        build_choice_task(no_test, "target", CFG)
    with pytest.raises(InputError, match=r"none of the target's 8 test documents has 100 words. Fix: lower evaluate"):
        build_choice_task(words_layout, "target", EvaluateParams(prefix_words=90, continuation_words=10))
    with pytest.raises(InputError, match=r"2 test documents of domains other than 'target' have 16 words, 5 distr"):
        build_choice_task(words_layout, "target", EvaluateParams(prefix_words=8, continuation_words=8, choices=6))
    with pytest.raises(InputError, match=r"params.yaml, field evaluate.choices: value 1 should be greater than or eq"):
        build(EvaluateParams, {"choices": 1}, "evaluate")
    with pytest.raises(InputError, match=r"field evaluate.tasks: value \['a', 'a'\] names 'a' twice"):
        build(EvaluateParams, {"tasks": ["a", "a"]}, "evaluate")


def test_the_stage_writes_results_and_logs_one_mlflow_run(trained, task_layout, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    stage = runpy.run_path(str(REPO / "stages" / "evaluate_large.py"))  # its `main`, in this process (fast)
    args = argparse.Namespace(model=trained, domains=task_layout, out=tmp_path / "out", name="truth")
    params = build(Params, {})
    stage["main"](args, params)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    # the stage's defaults (24 + 12 words) skip the tiny corpus's shorter documents
    expected = build_choice_task(task_layout, "target", EvaluateParams())
    assert results["local_task"] == {"target": "target", "questions": len(expected.docs), "skipped": expected.skipped}
    assert results["tasks"][LOCAL_TASK]["documents"] == len(expected.docs) and expected.skipped > 0
    assert (tmp_path / "out" / "task.jsonl").read_text() == expected.jsonl()
    raw = (tmp_path / "out" / "lm_eval.json").read_text()
    assert (
        str(tmp_path) not in raw
        and json.loads(raw)["results"][LOCAL_TASK]["acc,none"] == results["tasks"][LOCAL_TASK]["acc"]
    )
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("regmix").experiment_id])
    assert run.info.run_name == "evaluate-truth" and run.info.status == "FINISHED"
    assert run.data.tags["regmix.kind"] == "evaluate"
    assert run.data.metrics[f"{LOCAL_TASK}/acc"] == results["tasks"][LOCAL_TASK]["acc"]
    # the same evaluation logged again finds its finished run and logs nothing twice
    tracker = Tracker(uri, "regmix")
    other = Evaluation({LOCAL_TASK: {"acc": -1.0}}, {})
    assert log_evaluation(tracker, "truth", run.data.tags["regmix.key"], other, {}) == run.info.run_id
    history = client.get_metric_history(run.info.run_id, f"{LOCAL_TASK}/acc")
    assert [m.value for m in history] == [results["tasks"][LOCAL_TASK]["acc"]]
    with pytest.raises(InputError, match="nowhere: directory not found"):
        stage["main"](argparse.Namespace(**{**vars(args), "model": tmp_path / "nowhere"}), params)
