"""Params profiles: named sets of params.yaml overrides, turned into `dvc exp run -S` arguments.

The one switch to the paper's setup:

    dvc exp run $(python -m regmix.profiles paper --data /data/regmix-data --tokenizer /data/gptneox/tokenizer.json)

A profile is a YAML file in `profiles/` nested like params.yaml (plus an optional `requires:` list of
dotted keys that must end up non-null, e.g. the data path). Several profiles apply in order
(`paper tiny`: the paper's setup at tiny sizes). Fields that are mappings of user-chosen names
(`large.runs`, `baselines.mixtures`, `mixtures.prior`, ...) are replaced as a whole; sections
of params.yaml are merged key by key. The composed params are checked (as `load_params` does)
before anything is printed, so a wrong key or value stops here, not half-way through a run.

`--apply params.yaml` writes the composed params into the file instead (for `dvc repro`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import re
import sys
from pathlib import Path

import yaml

from .config.params import Params, build, field_type
from .errors import InputError
from .files import read_yaml

META_KEYS = ("requires",)
_SAFE_STR = re.compile(r"^[A-Za-z0-9_./:@+<>|=-]*$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def profiles_dir() -> Path:
    """`profiles/` of the project: the working directory's, else the one beside this package's source tree."""
    here = Path.cwd() / "profiles"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "profiles"


def load_profile(name: str, directory: str | Path | None = None) -> dict:
    """A profile by name (`profiles/<name>.yaml`) or path."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else Path(directory or profiles_dir()) / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in Path(directory or profiles_dir()).glob("*.yaml"))
        raise InputError(str(path), f"profile {name!r} not found", f"use one of {known} or a path to a YAML file")
    doc = read_yaml(path) or {}
    if not isinstance(doc, dict):
        raise InputError(str(path), "is not a mapping", "write overrides nested like params.yaml")
    return doc


def _is_section(path: list[str]) -> bool:
    """A params section (a dataclass: merged key by key), as opposed to a value replaced as a whole."""
    return dataclasses.is_dataclass(field_type(Params, path))


def merge(base: dict, over: dict, path: list[str] | None = None) -> dict:
    """`over` merged into a copy of `base`: sections key by key, everything else replaced."""
    out = copy.deepcopy(base) if base else {}
    for key, value in over.items():
        p = (path or []) + [str(key)]
        if isinstance(value, dict) and _is_section(p) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, p)
        else:
            out[key] = copy.deepcopy(value)
    return out


def compose(names: list[str], directory: str | Path | None = None) -> tuple[dict, list[str]]:
    """The overrides of the profiles `names` (in order), and the keys they require."""
    over: dict = {}
    requires: list[str] = []
    for name in names:
        doc = load_profile(name, directory)
        requires += list(doc.get("requires") or [])
        over = merge(over, {k: v for k, v in doc.items() if k not in META_KEYS})
    return over, requires


def apply_sets(doc: dict, sets: dict[str, object]) -> dict:
    """A copy of `doc` with each dotted key of `sets` set to its value (only that key, also inside a mapping)."""
    out = copy.deepcopy(doc)
    for dotted, value in sets.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = copy.deepcopy(value)
    return out


def compose_params(current: dict, names: list[str], sets: dict[str, object] | None = None) -> tuple[dict, list[str]]:
    """`current` params with the profiles `names`, then `sets`, applied; checked. Also the `-S` arguments that "
    "do the same."""
    over, requires = compose(names)
    composed = apply_sets(merge(current, over), sets or {})
    check(composed, requires, f"params.yaml with profile(s) {' '.join(names)}")
    args = set_args(over, current)
    for dotted, value in (sets or {}).items():
        args += ["-S", f"++{dotted}={hydra_value(value, dotted)}"]
    return composed, args


def _get(doc: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def check(params_doc: dict, requires: list[str], where: str = "profile") -> Params:
    """Check composed params as `load_params` does, and that every required key is set."""
    for key in requires:
        if _get(params_doc, key) in (None, ""):
            flag = {"domains.path": "--data", "tokenizer.path": "--tokenizer"}.get(key, f"--set {key}=...")
            raise InputError(f"{where}, field {key}", "is required by the profile but not set", f"give {flag}")
    return build(Params, params_doc, "", where)


def hydra_value(value, where: str = "") -> str:
    """`value` in Hydra's override grammar (what `dvc exp run -S key=value` parses), without spaces."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if not _SAFE_STR.match(value):
            raise InputError(
                where,
                f"value {value!r} has spaces, quotes or other special characters",
                "use a path or name without them",
            )
        return f"'{value}'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v, where) for v in value) + "]"
    if isinstance(value, dict):
        for k in value:
            if not _KEY.match(str(k)):
                raise InputError(
                    f"{where}.{k}",
                    "key has characters Hydra's override grammar does not allow in a key",
                    "use letters, digits, _ and -",
                )
        return "{" + ",".join(f"{k}:{hydra_value(v, f'{where}.{k}')}" for k, v in value.items()) + "}"
    raise InputError(
        where,
        f"value {value!r} of type {type(value).__name__} cannot be written as an override",
        "use YAML scalars, lists and mappings",
    )


def set_args(over: dict, current: dict, path: list[str] | None = None) -> list[str]:
    """`-S` arguments that turn params `current` into `merge(current, over)` with `dvc exp run`.

    Sections recurse; a mapping that replaces an existing mapping is deleted first (`~key`) and
    added again (`+key=...`), since Hydra would merge it; everything else is `++key=value`
    (set, or add if absent). Values `current` already has are left out.
    """
    args: list[str] = []
    for key, value in over.items():
        p = (path or []) + [str(key)]
        dotted = ".".join(p)
        has = isinstance(current, dict) and key in current
        cur = current.get(key) if has else None
        if has and cur == value and type(cur) is type(value):
            continue  # already so: no argument
        if isinstance(value, dict) and _is_section(p) and isinstance(cur, dict):
            args += set_args(value, cur, p)
        elif isinstance(value, dict) and isinstance(cur, dict):
            args += ["-S", f"~{dotted}", "-S", f"+{dotted}={hydra_value(value, dotted)}"]
        else:
            args += ["-S", f"++{dotted}={hydra_value(value, dotted)}"]
    return args


def _parse_set(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise InputError(f"--set {text}", "is not key=value", "write e.g. --set sweep.workers=4")
    key, value = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(
            f"--set {text}", f"value is not YAML ({problem})", "quote it, e.g. --set 'key=\"a: b\"'"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m regmix.profiles", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "profiles", nargs="+", help="profile names in profiles/ (or YAML paths), applied in order, e.g. paper tiny"
    )
    parser.add_argument("--data", help="domains.path: a local copy of sail/regmix-data (or -sample) in its layout")
    parser.add_argument("--tokenizer", help="tokenizer.path: a tokenizer.json (GPT-NeoX's for the paper)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one more override (YAML value), e.g. sweep.workers=4",
    )
    parser.add_argument(
        "--params", default="params.yaml", help="the params file the overrides apply to (default: params.yaml)"
    )
    parser.add_argument(
        "--apply", action="store_true", help="write the composed params into --params instead of printing -S arguments"
    )
    args = parser.parse_args(argv)
    try:
        sets = dict(_parse_set(s) for s in args.set)
        for flag, key in ((args.data, "domains.path"), (args.tokenizer, "tokenizer.path")):
            if flag is not None:
                path = Path(flag).expanduser().resolve()
                if not path.exists():
                    raise InputError(str(path), "not found", f"give an existing path for {key}")
                sets[key] = str(path)  # absolute: queued experiments run in a temporary copy
        current = read_yaml(args.params) or {}
        composed, set_arguments = compose_params(current, args.profiles, sets)
        if args.apply:
            Path(args.params).write_text(yaml.safe_dump(composed, sort_keys=False))
            print(f"wrote {args.params} with profile(s) {' '.join(args.profiles)}", file=sys.stderr)
        else:
            print(" ".join(set_arguments))
    except (InputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
