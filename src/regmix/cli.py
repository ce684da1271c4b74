"""The `regmix` command: fit, predict and simulate (the DVC stages call the same functions).

    regmix fit --mixtures M.csv --losses L.csv --target COLUMN --out DIR [--params params.yaml]
    regmix predict --model DIR --mixtures M.csv --out P.csv
    regmix simulate --model DIR --prior PRIOR.yaml --out DIR2 [--caps CAPS.yaml] [--params params.yaml]
    regmix profile paper --data DIR --tokenizer tokenizer.json     (see regmix.profiles)

`--target` may be repeated, or be `all` (every loss column); with more than one target each
model goes to DIR/<target>/ (the column name with `/` replaced by `__`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import InputError


def _section(params_path: str | None, name: str) -> dict:
    """The `name:` section of a params.yaml (empty without one)."""
    if not params_path:
        return {}
    from .files import read_yaml

    path = Path(params_path)
    if not path.is_file():
        raise InputError(str(path), "file not found", "give the path of a params.yaml, or leave --params out")
    doc = read_yaml(path) or {}
    if not isinstance(doc, dict):
        raise InputError(str(path), f"expected a mapping, found {type(doc).__name__}", "write key: value pairs")
    section = doc.get(name) or {}
    if not isinstance(section, dict):
        raise InputError(f"{path}, field {name}", f"value {section!r} is not a mapping", "write key: value pairs")
    return section


def _config(cls, data: dict, section: str, params_path: str | None):
    """`cls` from a params section, checked field by field as `params.yaml` is."""
    from .config.params import build

    return build(cls, data, section, params_path or "command line")


def _overrides(args, names: list[str]) -> dict:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _targets(requested: list[str], losses_csv: str) -> list[str]:
    if requested != ["all"]:
        return requested
    from .formats import read_losses_csv

    return list(read_losses_csv(losses_csv).columns)


def cmd_fit(args) -> None:
    from .config.regression import RegressionConfig
    from .formats import read_training_data

    data = {**_section(args.params, "regression"), **_overrides(args, ["folds", "inner_folds", "seed", "candidates"])}
    config = _config(RegressionConfig, data, "regression", args.params)
    targets = _targets(args.target, args.losses)
    for target in targets:  # bad input says so before the model libraries load (seconds of imports)
        read_training_data(args.mixtures, args.losses, target)
    from .regression.fit import fit_dir

    for target in targets:
        out = Path(args.out) if len(targets) == 1 else Path(args.out) / target.replace("/", "__")
        report = fit_dir(args.mixtures, args.losses, target, out, config)
        nested = report["nested"]
        print(
            f"{target}: chosen {report['chosen']}, nested {config.folds}-fold CV Spearman rho "
            f"{100 * nested['cv_spearman']:.2f} "
            f"(95% CI {100 * nested['ci95'][0]:.2f}-{100 * nested['ci95'][1]:.2f}); "
            + ", ".join(f"{n} {100 * m['cv_spearman']:.2f}" for n, m in report["models"].items())
            + f" -> {out}"
        )
        if "choice_warning" in report:
            print(f"{target}: warning: {report['choice_warning']}")


def cmd_predict(args) -> None:
    from .regression.saved import predict_csv

    predict_csv(args.model, args.mixtures, args.out)
    print(f"predictions -> {args.out}")


def cmd_simulate(args) -> None:
    from .config.mixtures import MixtureConfig
    from .config.simulation import SimulationConfig
    from .simulation.simulate import simulate_dir

    section = _section(args.params, "simulation")
    if args.params and "dirichlet" not in section:  # the pipeline's sampler settings, checked where they are written
        section["dirichlet"] = _config(MixtureConfig, _section(args.params, "mixtures"), "mixtures", args.params)
    data = {**section, **_overrides(args, ["n_candidates", "top_k", "n_bootstrap", "seed"])}
    config = _config(SimulationConfig, data, "simulation", args.params)
    caps = None
    if args.caps:
        from .files import read_yaml

        caps = read_yaml(args.caps)
        if not isinstance(caps, dict):
            raise InputError(
                str(args.caps), f"expected a mapping, found {type(caps).__name__}", "write `domain: max_weight` lines"
            )
    summary = simulate_dir(args.model, args.prior, args.out, config, caps=caps, target=args.valid_domain)
    print("optimal mixture: " + ", ".join(f"{d} {w:.3f}" for d, w in summary["optimal"].items()) + f" -> {args.out}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="regmix", description="RegMix: data mixture as regression.")
    sub = p.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit and cross-validate the regression, write the model and fit report")
    fit.add_argument("--mixtures", required=True, help="mixtures CSV: index,train_<domain>,...")
    fit.add_argument("--losses", required=True, help="losses CSV: index,<loss column>,...")
    fit.add_argument("--target", required=True, action="append", help="loss column to fit (repeatable, or `all`)")
    fit.add_argument("--out", required=True, help="output directory")
    fit.add_argument("--params", help="a params.yaml whose `regression:` section configures the fit")
    fit.add_argument("--folds", type=int, help="outer CV folds (overrides params)")
    fit.add_argument("--inner-folds", dest="inner_folds", type=int, help="inner CV folds for the nested choice")
    fit.add_argument("--candidates", nargs="+", help="candidate models, e.g. linear lightgbm gp ensemble")
    fit.add_argument("--seed", type=int)
    fit.set_defaults(func=cmd_fit)

    pred = sub.add_parser("predict", help="predict the loss of each mixture")
    pred.add_argument("--model", required=True, help="a directory written by `regmix fit`")
    pred.add_argument("--mixtures", required=True, help="mixtures CSV with the fit-time columns")
    pred.add_argument("--out", required=True, help="output CSV: index,prediction")
    pred.set_defaults(func=cmd_predict)

    sim = sub.add_parser("simulate", help="find the optimal mixture around a prior")
    sim.add_argument("--model", required=True, help="a directory written by `regmix fit`")
    sim.add_argument("--prior", required=True, help="the prior: mixture YAML, or token counts as JSON/CSV")
    sim.add_argument("--out", required=True, help="output directory")
    sim.add_argument("--caps", help="YAML of per-domain maximum weights")
    sim.add_argument("--params", help="a params.yaml whose `simulation:` (and `mixtures:`) sections configure it")
    sim.add_argument(
        "--valid-domain", dest="valid_domain", help="the `valid:` domain written in the optimal mixture YAML"
    )
    sim.add_argument("--n-candidates", dest="n_candidates", type=int)
    sim.add_argument("--top-k", dest="top_k", type=int)
    sim.add_argument("--n-bootstrap", dest="n_bootstrap", type=int)
    sim.add_argument("--seed", type=int)
    sim.set_defaults(func=cmd_simulate)

    sub.add_parser("profile", help="print a params profile as `dvc exp run -S` arguments (see `regmix profile --help`)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `regmix` command; bad input exits with status 2 and a one-paragraph message."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["profile"]:  # `regmix profile paper ...`: the params profiles (regmix.profiles)
        from .profiles import main as profile_main

        return profile_main(argv[1:])
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as e:
        print(f"regmix {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
