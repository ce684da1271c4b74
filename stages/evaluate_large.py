"""Stage 9c: evaluate one large model downstream with lm-eval-harness, on the local multiple-choice task built
from the target's held-out test documents (`evaluate.tasks` may add lm-eval tasks whose data is local).

Writes `<out>/results.json` (per task: acc, acc_norm and their standard errors, the number of documents),
`<out>/lm_eval.json` (lm-eval's own results) and `<out>/task.jsonl` (the local task's questions). The metrics go
to an MLflow run of their own, `evaluate-<name>` (tag `regmix.kind=evaluate`), not into the large model's
training run: re-evaluating with other tasks or settings then never reopens or rewrites a finished training run.
"""

import argparse
import dataclasses
from pathlib import Path

from regmix.config.evaluation import LOCAL_TASK
from regmix.evaluation.choice_task import build_choice_task, has_test_documents, write_choice_task
from regmix.evaluation.downstream import (
    Evaluation,
    check_checkpoint,
    evaluate_checkpoint,
    evaluation_key,
    log_evaluation,
)
from regmix.files import atomic_path, write_json
from regmix.stage import run_stage
from regmix.tracking import Tracker, tracking_uri


def main(args, params):
    cfg, target = params.evaluate, params.domains.target
    check_checkpoint(args.model)
    tasks, task, local = list(cfg.tasks), None, None
    if LOCAL_TASK in tasks and not has_test_documents(args.domains, target):
        # data without a held-out split (e.g. regmix-data): the local task cannot be written, so it is left out
        tasks.remove(LOCAL_TASK)
        local = {"target": target, "left_out": "the target has no held-out test documents"}
        print(f"{args.name}: {LOCAL_TASK} left out: {target!r} has no test documents")
    elif LOCAL_TASK in tasks:
        task = build_choice_task(args.domains, target, cfg)
        local = {"target": task.target, "questions": len(task.docs), "skipped": task.skipped}
    with atomic_path(args.out) as out:
        out.mkdir()
        task_file = out / "task.jsonl" if task else None
        if task:
            write_choice_task(task, task_file)
        result = Evaluation({}, {})  # nothing to evaluate
        if tasks:
            cfg = dataclasses.replace(cfg, tasks=tasks)
            result = evaluate_checkpoint(args.model, cfg, task_file, threads=cfg.threads)
        write_json(out / "results.json", {"model": args.name, "tasks": result.metrics, "local_task": local})
        write_json(out / "lm_eval.json", result.raw)
    tracker = Tracker(tracking_uri(params.mlflow.tracking_uri), params.mlflow.experiment)
    key = evaluation_key(args.model, args.name, cfg, task_file and Path(args.out) / task_file.name)
    log_evaluation(tracker, args.name, key, result, {"model": args.name, "evaluate": dataclasses.asdict(cfg)})
    print({t: {m: round(v, 4) for m, v in ms.items() if m in ("acc", "acc_norm")} for t, ms in result.metrics.items()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="one large model's checkpoint (models/large/<run>/seed-<s>)")
    parser.add_argument("--domains", required=True, help="the domains stage's layout (its test split and index)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", required=True, help="the model's name, <run>-<seed>")
    run_stage(main, parser)
