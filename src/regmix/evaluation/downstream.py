"""Downstream evaluation of one large model with lm-eval-harness: the local multiple-choice task built from
the target's held-out test documents (`choice_task`), and any other lm-eval task whose data is on this machine.

lm-eval runs end to end (task loading, request building, metrics, standard errors) on the litgpt checkpoint
as the large stage saved it, through `litgpt_lm.LitGPTLM`. Nothing is downloaded: the Hugging Face hub and
`datasets` are set offline before lm-eval is imported, and the local task's YAML and `datasets`' cache live in
a scratch folder removed afterwards.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config.evaluation import LOCAL_TASK, EvaluateParams
from ..errors import InputError
from ..hashing import file_sha256, key_of
from ..tracking import Tracker, owner_tags, run_tags
from .choice_task import task_yaml
from .heldout import load_checkpoint

CHECKPOINT_FILES = ("lit_model.pth", "model_config.yaml", "tokenizer.json", "tokenizer_config.json")
# lm-eval's fields that name this machine, this moment or the working tree's commit (the MLflow run has it): left
# out, so the same evaluation writes the same file
_VOLATILE = (
    "date",
    "start_time",
    "end_time",
    "total_evaluation_time_seconds",
    "pretty_env_info",
    "git_hash",
    "upper_git_hash",
    "samples",
)


@dataclass
class Evaluation:
    """One model's lm-eval results: metrics per task, lm-eval's own results, and its per-document records."""

    metrics: dict[str, dict[str, float]]  # {task: {acc, acc_stderr, acc_norm, acc_norm_stderr, ..., documents}}
    raw: dict  # lm-eval's results without `_VOLATILE` (the local task's scratch paths replaced by its file name)
    samples: dict[str, list[dict]] = field(default_factory=dict)  # {task: lm-eval's record of each document}


def offline() -> None:
    """No download from here on. `datasets` and `huggingface_hub` read these at import, so a module imported
    before this call is switched too."""
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    for module in ("huggingface_hub.constants", "datasets.config"):
        if module in sys.modules:
            sys.modules[module].HF_HUB_OFFLINE = True


def check_checkpoint(folder: str | Path) -> Path:
    """`folder` if it holds a checkpoint of the large stage (`save_litgpt_checkpoint`), else one InputError."""
    folder = Path(folder)
    missing = [f for f in CHECKPOINT_FILES if not (folder / f).is_file()]
    if missing:
        raise InputError(
            str(folder),
            "directory not found" if not folder.is_dir() else f"not a litgpt checkpoint ({', '.join(missing)} missing)",
            "point --model at a large model's folder (models/large/<name>) written by the large stage",
        )
    return folder


def load_lm(folder: str | Path, batch_size: int, device: str = "cpu"):
    """The checkpoint in `folder` as an lm-eval model (`LitGPTLM`)."""
    from tokenizers import Tokenizer

    from .litgpt_lm import LitGPTLM

    folder = check_checkpoint(folder)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    eos = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("eos_token")
    eos_id = tokenizer.token_to_id(eos) if isinstance(eos, str) else None
    if eos_id is None:
        raise InputError(
            f"{folder / 'tokenizer_config.json'}, field eos_token",
            f"value {eos!r} is not a token of {folder / 'tokenizer.json'}",
            "save the checkpoint again with the large stage (tokenizer.eos_token must be in the tokenizer)",
        )
    return LitGPTLM(load_checkpoint(folder), tokenizer, eos_id, batch_size=batch_size, device=device)


def evaluate_checkpoint(
    folder: str | Path,
    cfg: EvaluateParams,
    task_file: str | Path | None = None,
    threads: int | None = None,
    device: str = "cpu",
) -> Evaluation:
    """Run lm-eval's `simple_evaluate` on the checkpoint in `folder` with the tasks of `cfg`; `task_file` is the
    local task's JSONL (`choice_task.write_choice_task`), needed when `cfg.tasks` names it."""
    offline()
    import torch
    from lm_eval.evaluator import simple_evaluate
    from lm_eval.tasks import TaskManager

    if LOCAL_TASK in cfg.tasks and not (task_file and Path(task_file).is_file()):
        raise InputError(
            str(task_file or "task_file"),
            f"the questions of {LOCAL_TASK} not found",
            "write them first with choice_task.write_choice_task (the evaluate stage does)",
        )
    check_checkpoint(folder)
    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="regmix-lm-eval-") as scratch:
        if task_file:
            Path(scratch, f"{LOCAL_TASK}.yaml").write_text(task_yaml(task_file, Path(scratch) / "datasets"))
        others = [t for t in cfg.tasks if t != LOCAL_TASK]
        unknown = [t for t in others if t not in _written_in_lm_eval(others)]
        if not unknown:  # lm-eval's own tasks are indexed (about 15 s) only when asked for
            manager = TaskManager(include_path=scratch, include_defaults=bool(others))
            unknown = [t for t in cfg.tasks if t not in manager.all_tasks]
        if unknown:
            raise InputError(
                "evaluate.tasks",
                f"unknown lm-eval task {unknown[0]!r}",
                f"use {LOCAL_TASK} or a task of `lm_eval ls tasks` whose dataset is in the local Hugging Face cache",
            )
        results = simple_evaluate(
            model=load_lm(folder, cfg.batch_size, device),
            tasks=list(cfg.tasks),
            num_fewshot=cfg.num_fewshot,
            limit=cfg.limit,
            task_manager=manager,
            log_samples=True,
            random_seed=cfg.seed,
            numpy_random_seed=cfg.seed,
            torch_random_seed=cfg.seed,
            fewshot_random_seed=cfg.seed,
        )
        text = json.dumps(results, default=str)
        if task_file:
            text = text.replace(str(Path(task_file).resolve()), Path(task_file).name)
        raw = json.loads(text.replace(str(Path(scratch).resolve()), "<scratch>"))
    samples = raw.get("samples", {})
    return Evaluation(task_metrics(raw), {k: v for k, v in raw.items() if k not in _VOLATILE}, samples)


def _written_in_lm_eval(names: list[str]) -> set[str]:
    """The `names` written somewhere in lm-eval's task folder. lm-eval takes every task, group and tag name from
    the YAML files there and the templates they include (some without an extension), so a name written in none
    of its files is no lm-eval task: one read of their 15 MB (about a second) tells a typo, before parsing them
    all (about 15 s)."""
    import lm_eval.tasks

    found: set[str] = set()
    for path in Path(lm_eval.tasks.__file__).parent.rglob("*"):
        if len(found) == len(names):
            break
        if path.is_file() and path.suffix != ".pyc":
            text = path.read_bytes()
            found |= {n for n in names if n.encode() in text}
    return found


def task_metrics(results: dict) -> dict[str, dict[str, float]]:
    """{task: {metric: value, metric_stderr: value, documents: n}} from lm-eval's results (filter `none`)."""
    out = {}
    for task, values in results["results"].items():
        metrics = {
            name.partition(",")[0]: v for name, v in values.items() if name.endswith(",none") and v not in ("N/A", None)
        }
        metrics["documents"] = results["n-samples"][task]["effective"]
        out[task] = metrics
    return out


def log_evaluation(tracker: Tracker, name: str, key: str, evaluation: Evaluation, params: dict) -> str:
    """Log `evaluation` into the MLflow run `evaluate-<name>` (tagged `regmix.kind=evaluate`) and end it; return
    its id. The run keyed `key` that already finished is left as it is: a rerun logs nothing twice."""
    tracker.end_dead_runs()
    tags = {**run_tags(), **owner_tags(), "regmix.kind": "evaluate", "regmix.model": name}
    run_id, existed = tracker.find_or_create(f"evaluate-{name}", key, tags, reuse_killed=False)
    if not existed:
        metrics = [(f"{task}/{m}", v, 0) for task, ms in evaluation.metrics.items() for m, v in ms.items()]
        tracker.log(run_id, params=params, metrics=metrics)
        tracker.finish(run_id)
    return run_id


def evaluation_key(folder: str | Path, name: str, cfg: EvaluateParams, task_file: str | Path | None = None) -> str:
    """What decides an evaluation's results: the weights, the settings, the local task's questions, and the DVC
    experiment it belongs to."""
    data = [file_sha256(p) for p in (Path(folder) / "lit_model.pth", task_file) if p]
    return key_of([name, data, asdict(cfg), os.environ.get("DVC_EXP_NAME", "")])
