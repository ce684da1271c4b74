"""The large model on Lightning Fabric: gradient accumulation, 2-process DDP (gloo, CPU) against one
process, FSDP's settings, and litgpt's own tools on the checkpoint the stage writes."""

import csv
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO

from regmix.config.params import build
from regmix.config.training import FabricConfig, ModelConfig, TrainConfig
from regmix.errors import InputError
from regmix.formats import write_mixture_yaml
from regmix.token_store import TokenStore
from regmix.training.checkpoint import save_litgpt_checkpoint
from regmix.training.loop import build_fabric, fabric_strategy, train

TINY = ModelConfig(n_layer=1, n_head=2, n_embd=32, intermediate_size=64, block_size=32)
CFG = TrainConfig(
    tokens=32 * 8 * 12,
    batch_size=8,
    lr=3e-3,
    warmup_steps=2,
    eval_every=6,
    eval_tokens=256,
    log_every=2,
    schedule="cosine",
)
MIX = {"alpha": 0.5, "beta": 0.3, "gamma": 0.2}
# 2-process DDP and gradient accumulation against one process and one batch: the same data and gradients,
# summed in another order. Measured: losses at most 8.6e-8 apart (relative) on one host, 1.7e-7 (1.4 float32
# epsilons: DDP's train loss after 12 steps) on a host whose CPU sums in another order, many equal to the bit;
# the tolerance is 4 epsilons. A wrong split of the batch or of the gradients moves them by far more.
TOL = 4 * float(np.finfo(np.float32).eps)


def test_gradient_accumulation_matches_one_big_batch(tokens_dir):
    store = TokenStore(tokens_dir)
    _, whole = train(TINY, CFG, MIX, store, store.eval_domains)
    _, accumulated = train(
        TINY, dataclasses.replace(CFG, micro_batch_size=2), MIX, store, store.eval_domains
    )  # 4 micro-steps
    assert [s for s, _ in whole.val_loss] == [s for s, _ in accumulated.val_loss] == [6, 12]
    for (_, a), (_, b) in zip(whole.val_loss, accumulated.val_loss, strict=True):
        assert a == pytest.approx(b, rel=TOL, abs=0)
    assert [s for s, _ in whole.train_loss] == [s for s, _ in accumulated.train_loss] == [2, 4, 6, 8, 10, 12]
    for (_, a), (_, b) in zip(whole.train_loss, accumulated.train_loss, strict=True):
        assert a == pytest.approx(b, rel=TOL, abs=0)
    with pytest.raises(InputError, match="micro_batch_size"):
        dataclasses.replace(CFG, micro_batch_size=3).accumulation(1)  # 8 rows are not a multiple of 3
    with pytest.raises(InputError, match="micro_batch_size"):
        dataclasses.replace(CFG, micro_batch_size=4).accumulation(4)  # 2 rows per process
    with pytest.raises(InputError, match="micro_batch_size"):
        build(TrainConfig, {"batch_size": 8, "micro_batch_size": 16})


def test_fabric_settings():
    assert fabric_strategy(FabricConfig()) == "auto"
    fsdp = fabric_strategy(FabricConfig(accelerator="cuda", devices=8, strategy="fsdp"))
    assert (
        type(fsdp).__name__ == "FSDPStrategy" and fsdp._state_dict_type == "full"
    )  # one lit_model.pth, litgpt's format
    with pytest.raises(InputError, match="fsdp.*GPU"):
        build(FabricConfig, {"strategy": "fsdp"})  # torch's FSDP has no CPU backend
    with pytest.raises(InputError, match="strategy"):
        build(FabricConfig, {"strategy": "horovod"})


@pytest.fixture(scope="module")
def ddp_run(tokens_dir, tmp_path_factory):
    """`stages/train_large.py` with 2 CPU processes (DDP over gloo), as `dvc repro` runs it."""
    root = tmp_path_factory.mktemp("ddp")
    write_mixture_yaml(root / "mix.yaml", MIX, "target")
    params = {
        "seed": 0,
        "large": {
            "model": dataclasses.asdict(TINY),
            "train": dataclasses.asdict(CFG),
            "threads": 1,
            "fabric": {"accelerator": "cpu", "devices": 2, "strategy": "ddp"},
        },
        "mlflow": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "experiment": "test"},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "REGMIX_PARAMS": str(root / "params.yaml"), "PYTHONPATH": str(REPO / "src")}
    env.pop("MLFLOW_TRACKING_URI", None)
    out = root / "large"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "stages" / "train_large.py"),
            "--name",
            "ddp",
            "--seed",
            "0",
            "--mixture",
            str(root / "mix.yaml"),
            "--tokens",
            str(tokens_dir),
            "--out",
            str(out),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, out


def test_ddp_on_two_processes_equals_one_process(tokens_dir, ddp_run):
    root, out = ddp_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["fabric"]["world_size"] == 2
    store = TokenStore(tokens_dir)
    _, one = train(TINY, CFG, MIX, store, store.eval_domains)  # one process, the same global batch of 8
    with open(out / "curves.csv") as f:
        curve = [(int(r["step"]), {d: float(r[d]) for d in store.eval_domains}) for r in csv.DictReader(f)]
    assert [s for s, _ in curve] == [s for s, _ in one.val_loss] == [6, 12]  # every evaluation
    for (_, ddp), (_, single) in zip(curve, one.val_loss, strict=True):
        assert ddp == pytest.approx(single, rel=TOL, abs=0)
    assert metrics["val_loss"] == curve[-1][1]
    assert [s for s, _ in metrics["train_loss"]] == [s for s, _ in one.train_loss] == [2, 4, 6, 8, 10, 12]
    for (_, ddp), (_, single) in zip(metrics["train_loss"], one.train_loss, strict=True):
        assert ddp == pytest.approx(single, rel=TOL, abs=0)
    # only rank 0 wrote outputs and logged: one MLflow run, no stray directories
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("test").experiment_id])
    assert [r.info.run_name for r in runs] == ["large-ddp"]
    assert runs[0].data.metrics["final_val_loss/target"] == metrics["val_loss"]["target"]
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "val_loss/target")] == [6, 12]
    assert sorted(p.name for p in root.iterdir()) == ["large", "mix.yaml", "mlflow.db", "params.yaml"]
    assert sorted(p.name for p in out.iterdir()) == [
        "curves.csv",
        "lit_model.pth",
        "metrics.json",
        "model_config.yaml",
        "tokenizer.json",
        "tokenizer_config.json",
    ]


def test_litgpt_converts_the_checkpoint(ddp_run, tmp_path):
    """What `litgpt convert_from_litgpt <checkpoint> <out>` runs, in this process (`litgpt generate` is run as a
    command below)."""
    from litgpt.scripts.convert_lit_checkpoint import convert_lit_checkpoint

    _, ckpt = ddp_run
    convert_lit_checkpoint(ckpt, tmp_path / "hf")
    hf = torch.load(tmp_path / "hf" / "model.pth")
    lit = torch.load(ckpt / "lit_model.pth")["model"]
    assert torch.equal(hf["model.embed_tokens.weight"], lit["transformer.wte.weight"])
    assert torch.equal(hf["model.layers.0.mlp.down_proj.weight"], lit["transformer.h.0.mlp.proj.weight"])


def test_litgpt_generates_from_the_checkpoint(ddp_run):
    from litgpt import GPT, Config, Tokenizer
    from litgpt.generate.base import generate

    _, ckpt = ddp_run
    config = Config.from_file(ckpt / "model_config.yaml")
    model = GPT(config)
    model.load_state_dict(torch.load(ckpt / "lit_model.pth")["model"])  # exactly litgpt's keys
    model.eval()
    model.max_seq_length = config.block_size
    model.set_kv_cache(batch_size=1)
    tokenizer = Tokenizer(ckpt)
    prompt = tokenizer.encode("the")
    out = generate(model, prompt, max_returned_tokens=len(prompt) + 12, temperature=1.0, top_k=1)
    assert out.shape == (len(prompt) + 12,) and torch.equal(out[: len(prompt)], prompt)
    assert isinstance(tokenizer.decode(out), str)
    litgpt = os.path.join(os.path.dirname(sys.executable), "litgpt")  # and litgpt's own command
    proc = subprocess.run(
        [litgpt, "generate", str(ckpt), "--prompt", "the", "--max_new_tokens", "5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1].startswith("the"), proc.stderr[-3000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch's FSDP needs a GPU")
def test_fsdp_on_one_gpu_writes_a_litgpt_checkpoint(tokens_dir, tmp_path):
    fabric = build_fabric(FabricConfig(accelerator="cuda", devices=1, strategy="fsdp"))
    fabric.launch()
    store = TokenStore(tokens_dir)
    model, result = train(TINY, CFG, MIX, store, store.eval_domains, fabric)
    save_litgpt_checkpoint(
        fabric, model, TINY, store.vocab_size, tokens_dir / "tokenizer.json", tmp_path / "ckpt", "fsdp"
    )
    state = torch.load(tmp_path / "ckpt" / "lit_model.pth")["model"]
    assert "transformer.wte.weight" in state and torch.isfinite(torch.tensor(result.final["target"]))
