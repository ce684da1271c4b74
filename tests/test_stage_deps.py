"""dvc.yaml's code deps are exact: each stage depends on precisely the library modules its script runs.

The import closure of every stage script is read with `ast` (`regmix.imports`), lazy imports
included; a module missing from a stage's deps would leave stale results that `dvc status` calls
current, and a module listed but never run would rerun the stage for nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml
from conftest import REPO

from regmix.imports import SRC, import_closure, imported_modules, module_file


def _stages() -> dict[str, list[str]]:
    """{stage name: deps} of dvc.yaml (a foreach stage once, by its template)."""
    doc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    return {name: (spec.get("do") or spec)["deps"] for name, spec in doc["stages"].items()}


def _covered(deps: list[str]) -> set[Path]:
    """Library modules (not `__init__.py`) that a list of deps covers: a folder covers every module in it."""
    out = set()
    for dep in deps:
        path = (REPO / dep).resolve()
        if not path.is_relative_to(SRC):
            continue
        assert path.exists(), f"dvc.yaml lists {dep}, which does not exist"
        out |= set(path.rglob("*.py")) if path.is_dir() else {path}
    return {p for p in out if p.name != "__init__.py"}


def test_every_stage_depends_on_exactly_the_modules_it_runs():
    stages = _stages()
    assert len(stages) >= 10
    problems = []
    for name, deps in stages.items():
        scripts = [d for d in deps if d.startswith("stages/")]
        assert len(scripts) == 1, f"stage {name}: expected one stage script in deps, found {scripts}"
        runs = {p for p in import_closure(REPO / scripts[0]) if p.name != "__init__.py"}
        listed = _covered(deps)
        rel = lambda ps: sorted(str(p.relative_to(SRC)) for p in ps)  # noqa: E731
        if runs - listed:
            problems.append(f"stage {name} runs {rel(runs - listed)} but does not depend on them")
        if listed - runs:
            problems.append(f"stage {name} depends on {rel(listed - runs)} but never imports them")
    assert not problems, "\n".join(problems)


# Params a stage reads that cannot change its outputs, so that declaring them would only rerun it for nothing.
NOT_OUTPUTS = {
    "mlflow": "where runs are logged, not what a stage computes",
    "tokenize": "encode: how the files are spread over workers or Ray tasks (the same tokens, test_tokenize_scale)",
    "tokenizer.batch_size": "documents per encode_batch call (the same tokens)",
    "sweep": "proxies: run_sweep reads sweep.executor and sweep.ray (declared) and sweep.workers (how many at once)",
    "sweep.threads": "torch threads per proxy worker",
}
DERIVED = {"sweep.n_proxies": ("sweep.shards", "sweep.shard_size")}  # properties of params, by what they read
TRACKING = ("tracking.py",)  # MLflow runs: their keys and tags are not outputs


def _params_read(tree: ast.AST) -> set[str]:
    """Every `params.<section>[.<key>...]` chain read in `tree`, whole (not its prefixes)."""
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute)}
    chains = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            parts, n = [], node
            while isinstance(n, ast.Attribute):
                parts.append(n.attr)
                n = n.value
            if isinstance(n, ast.Name) and n.id == "params":
                chains.add(".".join(reversed(parts)))
    return chains


def test_every_stage_declares_the_params_its_code_reads():
    """A param that a stage script (or a library function it passes `params` to) reads but `dvc.yaml` does not
    declare is a change `dvc status` does not see: e.g. `validation.runs`, from which the mixtures stage writes the
    validation models' mixtures."""
    from dataclasses import fields

    from regmix.config.params import Params

    sections = {f.name for f in fields(Params)}
    doc = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    problems = []
    for name, spec in doc.items():
        spec = spec.get("do") or spec
        script = REPO / next(d for d in spec["deps"] if d.startswith("stages/"))
        read = _params_read(ast.parse(script.read_text()))
        read |= set(re.findall(r"\$\{([\w.]+)\}", spec["cmd"]))  # interpolated into the command: `--seed ${seed}`
        for module in import_closure(script):
            if module.name in TRACKING:
                continue
            for fn in ast.walk(ast.parse(module.read_text())):
                if isinstance(fn, ast.FunctionDef) and any(a.arg == "params" for a in fn.args.args):
                    read |= _params_read(fn)
        read = {r for r in read if r.split(".")[0] in sections}
        read = set().union(*(DERIVED.get(r, (r,)) for r in read))
        declared = spec.get("params", [])
        for chain in sorted(read):
            if not any(chain == d or chain.startswith(d + ".") for d in declared) and not any(
                chain == k or chain.startswith(k + ".") for k in NOT_OUTPUTS
            ):
                problems.append(f"stage {name} reads params.{chain} but does not declare it")
        for d in declared:
            if not any(r == d or r.startswith(d + ".") or d.startswith(r + ".") for r in read):
                problems.append(f"stage {name} declares {d} but never reads it")
    assert not problems, "\n".join(problems)


def test_package_inits_hold_only_a_docstring():
    """`__init__.py` files run on every import of their package but are not in the deps: they must hold no code."""
    for init in SRC.rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), init


def test_the_closure_follows_lazy_and_relative_imports():
    """The walker itself: `proxy/sweep.py` imports Ray's executor inside a function, and `train_proxy` the "
    "training loop."""
    closure = {str(p.relative_to(SRC)) for p in import_closure(SRC / "proxy" / "sweep.py")}
    assert {
        "proxy/ray_executor.py",
        "proxy/jobs.py",
        "proxy/local.py",
        "training/loop.py",
        "training/model.py",
        "config/training.py",
    } <= closure
    assert "regression/fit.py" not in closure and "tracking.py" not in closure


def test_no_import_cycles():
    """No two library modules import each other, directly or through others (e.g. the sweep and the Ray executor)."""
    modules = {p: {module_file(m) for m in imported_modules(p)} - {None} for p in SRC.rglob("*.py")}
    state: dict[Path, int] = {}

    def visit(p: Path, path: list[Path]):
        state[p] = 1
        for q in modules[p]:
            if q.name == "__init__.py":
                continue
            assert state.get(q) != 1, "import cycle: " + " -> ".join(str(x.relative_to(SRC)) for x in path + [q])
            if q not in state:
                visit(q, path + [q])
        state[p] = 2

    for p in modules:
        if p not in state:
            visit(p, [p])


def test_reading_params_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys; from regmix.config.params import load_params; load_params('params.yaml'); "
        "print(sorted(m for m in ('torch', 'mlflow', 'sklearn', 'pandas', 'lightgbm', 'litgpt', 'lightning') if "
        "m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"
