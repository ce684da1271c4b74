"""Config of the downstream evaluation of the large models with lm-eval-harness: the tasks, how many documents,
and the shape of the local multiple-choice task built from the target's held-out test documents
(`regmix.evaluation.choice_task`). Meant as the `evaluate:` section of params.yaml."""

from __future__ import annotations

from dataclasses import field
from typing import Annotated

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from .base import Seed, config_dataclass, fail, matching

# The local task's lm-eval name: the target's test documents, each with its true continuation and distractors.
LOCAL_TASK = "regmix_target_choice"
# An lm-eval task, group or tag name (e.g. hellaswag, arc_easy, mmlu_stem).
TaskName = Annotated[str, matching(r"[A-Za-z0-9_.\-]+", "letters, digits, _, . and -")]


@config_dataclass
class EvaluateParams:
    # lm-eval tasks; any but the local one must have its dataset in the local Hugging Face cache (nothing is
    # downloaded), and the litgpt wrapper scores log-likelihoods only (multiple-choice and perplexity tasks)
    tasks: Annotated[list[TaskName], Field(min_length=1)] = field(default_factory=lambda: [LOCAL_TASK])
    batch_size: PositiveInt = 16  # sequences per forward pass
    # torch threads. 1: a forward pass of the default large model on 16 x 100 tokens took 0.13 s with 1 thread and
    # 0.97 s with 2 while other work used both cores of a 2-core machine (small ops, threads waiting on each other)
    threads: PositiveInt = 1
    limit: PositiveInt | None = None  # documents per task; None: all
    num_fewshot: NonNegativeInt = 0  # examples put before each question (drawn from the task's own documents)
    choices: Annotated[int, Field(ge=2)] = 4  # the local task: the true continuation and choices - 1 distractors
    # the local task: context and continuation lengths in words; documents shorter than their sum are skipped
    # (24 + 12 keeps every document of the synthetic default, 40 to 160 words)
    prefix_words: PositiveInt = 24
    continuation_words: PositiveInt = 12
    seed: Seed = 0  # the local task's distractors and order, and lm-eval's own seeds

    @model_validator(mode="after")
    def _check(self):
        repeated = sorted({t for t in self.tasks if self.tasks.count(t) > 1})
        if repeated:
            fail(f"names {repeated[0]!r} twice", "list each task once", "tasks", self.tasks)
        return self
