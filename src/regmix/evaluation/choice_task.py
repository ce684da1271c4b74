"""A local lm-eval multiple-choice task from the held-out test documents: does the model know how a target
document goes on?

Each question is a target test document's first `prefix_words` words; the choices are its true next
`continuation_words` words and `choices - 1` distractors, the same words (same position, same length) of
test documents of other domains, in a seeded random order. A model that has learnt the target's
distribution picks the true continuation more often than 1 / choices. Nothing here needs the network:
the task is a JSONL file and an lm-eval YAML naming it (`task_yaml`), which lm-eval reads with the `json`
builder of `datasets`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ..config.evaluation import LOCAL_TASK, EvaluateParams
from ..errors import InputError
from ..files import write_text
from ..layout import HELD_OUT, TEST_INDEX, read_test_index, read_texts


@dataclass
class ChoiceTask:
    """The questions of the local task and how many target test documents were too short for one."""

    target: str
    docs: list[dict] = field(default_factory=list)  # {context, choices, label, document, sources}
    skipped: int = 0  # target test documents under prefix_words + continuation_words words

    def jsonl(self) -> str:
        return "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in self.docs)


def _test_documents(root: Path) -> dict[str, list[list[str]]]:
    """{domain: [words of each test document]} of a layout indexed by the domains stage, in file order."""
    index = read_test_index(root)
    return {
        domain: [text.split() for f in entry[HELD_OUT] for text in read_texts(root / f["file"]) if text.strip()]
        for domain, entry in sorted(index.items())
    }


def has_test_documents(domains: str | Path, target: str) -> bool:
    """Whether the layout in `domains` holds held-out test documents of `target` (regmix-data, say, has none)."""
    return bool(read_test_index(Path(domains)).get(target, {}).get(HELD_OUT))


def build_choice_task(domains: str | Path, target: str, cfg: EvaluateParams) -> ChoiceTask:
    """The local task of `cfg` for domain `target` of the layout in `domains` (written by the domains stage)."""
    root, need = Path(domains), cfg.prefix_words + cfg.continuation_words
    where = str(root / TEST_INDEX)
    docs = _test_documents(root)
    if not docs.get(target):
        raise InputError(
            where,
            f"the target domain {target!r} has no test documents",
            f"give it a held-out split ({HELD_OUT}/{target}-<k>.jsonl), or evaluate other tasks than {LOCAL_TASK}",
        )
    usable = sum(len(w) >= need for w in docs[target])
    if not usable:
        raise InputError(
            where,
            f"none of the target's {len(docs[target])} test documents has {need} words",
            "lower evaluate.prefix_words or evaluate.continuation_words",
        )
    span = slice(cfg.prefix_words, need)
    # distractors: the same span of every long enough test document of the other domains
    pool = [(d, " ".join(w[span])) for d, texts in docs.items() if d != target for w in texts if len(w) >= need]
    if len(pool) < cfg.choices - 1:
        raise InputError(
            where,
            f"{len(pool)} test documents of domains other than {target!r} have {need} words, "
            f"{cfg.choices - 1} distractors are needed",
            "lower evaluate.choices, evaluate.prefix_words or evaluate.continuation_words",
        )
    rng = np.random.default_rng(cfg.seed)
    task = ChoiceTask(target)
    for k, words in enumerate(docs[target]):
        if len(words) < need:
            task.skipped += 1
            continue
        truth = " ".join(words[span])
        picked: list[tuple[str, str]] = []
        for i in rng.permutation(len(pool)):  # distinct texts, none equal to the truth
            if pool[i][1] != truth and all(pool[i][1] != t for _, t in picked):
                picked.append(pool[i])
                if len(picked) == cfg.choices - 1:
                    break
        if len(picked) < cfg.choices - 1:
            raise InputError(
                where,
                f"the other domains' test documents have {len(picked)} distinct continuations, "
                f"{cfg.choices - 1} are needed",
                "lower evaluate.choices",
            )
        options = [(target, truth), *picked]
        order = rng.permutation(cfg.choices)
        task.docs.append(
            {
                "context": " ".join(words[: cfg.prefix_words]),
                "choices": [options[i][1] for i in order],
                "label": int(np.flatnonzero(order == 0)[0]),
                "document": k,  # its index among the target's test documents
                "sources": [options[i][0] for i in order],  # the domain each choice comes from
            }
        )
    return task


def write_choice_task(task: ChoiceTask, path: str | Path) -> None:
    """The task's questions as JSONL (one {context, choices, label, document, sources} a line), atomically."""
    write_text(path, task.jsonl())


def task_yaml(data_file: str | Path, cache_dir: str | Path, name: str = LOCAL_TASK) -> str:
    """lm-eval's YAML of the local task, reading `data_file`.

    lm-eval resolves `data_files` against the working directory, not the YAML's folder, so the YAML holds
    an absolute path: write it at evaluation time into a scratch folder (never into a DVC output, whose
    content must not depend on where the project lives). `cache_dir` keeps `datasets`' Arrow copy there too.
    """
    config = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {
            "data_files": {"test": str(Path(data_file).resolve())},
            "cache_dir": str(Path(cache_dir).resolve()),
        },
        "test_split": "test",
        "output_type": "multiple_choice",
        # column names: lm-eval reads the values as they are (a template would be rendered and parsed again)
        "doc_to_text": "context",
        "doc_to_choice": "choices",
        "doc_to_target": "label",
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
        ],
        "metadata": {"version": 1.0},
    }
    return yaml.safe_dump(config, sort_keys=False)
