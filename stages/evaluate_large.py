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

from regmix.config.evaluation import LOCAL_TASK, EvaluateParams
from regmix.evaluation.choice_task import build_choice_task, write_choice_task
from regmix.evaluation.downstream import check_checkpoint, evaluate_checkpoint, evaluation_key, log_evaluation
from regmix.files import atomic_path, write_json
from regmix.stage import run_stage
from regmix.tracking import Tracker, tracking_uri


def main(args, params):
    cfg = getattr(params, "evaluate", None) or EvaluateParams()  # its defaults until params.yaml has `evaluate:`
    check_checkpoint(args.model)
    task = build_choice_task(args.domains, params.domains.target, cfg) if LOCAL_TASK in cfg.tasks else None
    with atomic_path(args.out) as out:
        out.mkdir()
        task_file = out / "task.jsonl" if task else None
        if task:
            write_choice_task(task, task_file)
        result = evaluate_checkpoint(args.model, cfg, task_file, threads=cfg.threads)
        local = {"target": task.target, "questions": len(task.docs), "skipped": task.skipped} if task else None
        write_json(out / "results.json", {"model": args.name, "tasks": result.metrics, "local_task": local})
        write_json(out / "lm_eval.json", result.raw)
    tracker = Tracker(tracking_uri(params.mlflow.tracking_uri), params.mlflow.experiment)
    key = evaluation_key(args.model, args.name, cfg, task_file and Path(args.out) / task_file.name)
    log_evaluation(tracker, args.name, key, result, {"model": args.name, "evaluate": dataclasses.asdict(cfg)})
    print({t: {m: round(v, 4) for m, v in ms.items() if m in ("acc", "acc_norm")} for t, ms in result.metrics.items()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="one large model's checkpoint folder (models/large/<name>)")
    parser.add_argument("--domains", required=True, help="the domains stage's layout (its test split and index)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", required=True, help="the run's name (a key of large.runs)")
    run_stage(main, parser)
