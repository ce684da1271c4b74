"""Which of this package's modules a script or module runs: its import closure, read with `ast`.

Both the proxy cache key (the source of everything that trains a proxy) and the test that keeps
`dvc.yaml`'s deps exact use it. Every `import` statement counts, at module level or inside a
function (a lazy import runs too); only modules of this package are followed.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "regmix"
SRC = Path(__file__).resolve().parent  # src/regmix


def module_file(name: str, src: Path = SRC) -> Path | None:
    """The file of module `regmix.a.b` (a module or a package's `__init__.py`), or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = src.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, src: Path = SRC) -> set[str]:
    """Names of the `regmix` modules that the file at `path` imports (absolute and relative imports)."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    inside = Path(path).resolve().is_relative_to(src)
    package = _module_name(Path(path).resolve(), src).split(".") if inside else []
    if inside and Path(path).name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import module`
    return {m for m in found if m.split(".")[0] == PACKAGE and module_file(m, src)}


def import_closure(path: str | Path, src: Path = SRC) -> set[Path]:
    """Files of every `regmix` module that `path` runs, directly or through other modules (not `path` itself)."""
    todo, seen = [Path(path)], set()
    while todo:
        for name in imported_modules(todo.pop(), src):
            parts = name.split(".")
            # importing `regmix.a.b` runs the `__init__.py` of `regmix` and `regmix.a` too
            for k in range(1, len(parts) + 1):
                f = module_file(".".join(parts[:k]), src)
                if f and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return seen
