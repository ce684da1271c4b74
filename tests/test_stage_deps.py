"""dvc.yaml's code deps are exact: each stage depends on precisely the library modules its script runs.

The import closure of every stage script is read with `ast` (`regmix.imports`), lazy imports
included; a module missing from a stage's deps would leave stale results that `dvc status` calls
current, and a module listed but never run would rerun the stage for nothing.
"""

from __future__ import annotations

import ast
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
