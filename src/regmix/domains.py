"""Domains in the paper's data layout, from three sources.

Layout (sail/regmix-data): `train/<domain>-<k>[-<anything>].jsonl` and `valid/<domain>-<k>...`,
one `{"text": ...}` object a line. Training domains are those with train files; every domain
with valid files is evaluated (so an evaluation-only target domain has valid files alone).

Sources: the synthetic corpus (`synthetic.py`), a local directory in this layout, or a Hugging
Face dataset loaded with `datasets` (a hub name, or a local path, with a column naming the domain).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .errors import InputError
from .io import atomic_path, write_json

SPLITS = ("train", "valid")
_FILE = re.compile(r"^(?P<domain>[A-Za-z0-9_.]+?)-(?P<k>\d+)(-[^/]*)?\.jsonl$")


@dataclass(frozen=True)
class HFSource:
    """A Hugging Face dataset: `path` is a hub name or a local directory/file (see `datasets.load_dataset`)."""

    path: str = ""
    name: str | None = None  # the dataset's config name
    data_files: dict[str, str] | None = None  # for a builder such as "json" or "parquet": {split: file or glob}
    train_split: str = "train"
    valid_split: str = "validation"
    text_field: str = "text"
    domain_field: str = "domain"  # dotted for nested fields, e.g. "meta.pile_set_name"
    docs_per_file: int = 100_000


@dataclass
class Layout:
    """The files of a directory in the paper's layout: {split: {domain: [paths]}}."""

    root: Path
    files: dict[str, dict[str, list[Path]]] = field(default_factory=dict)

    @property
    def train_domains(self) -> list[str]:
        return sorted(self.files.get("train", {}))

    @property
    def eval_domains(self) -> list[str]:
        return sorted(self.files.get("valid", {}))


def domain_name(raw: str) -> str:
    """A file- and column-safe domain name: 'Pile-CC' -> 'pile_cc'."""
    return re.sub(r"[^a-z0-9]+", "_", str(raw).lower()).strip("_")


def scan_layout(root: str | Path) -> Layout:
    """Find the domain files under `root`/train and `root`/valid, with clear errors for anything else."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(str(root), "directory not found", "point domains.path at a directory with train/ and valid/ subdirectories")
    layout = Layout(root, {s: {} for s in SPLITS})
    for split in SPLITS:
        d = root / split
        if not d.is_dir():
            raise InputError(str(d), "directory not found", f"put the {split} files in {d}/<domain>-<k>.jsonl")
        for path in sorted(d.iterdir()):
            m = _FILE.match(path.name)
            if not m:
                raise InputError(str(path), f"file name {path.name!r} is not <domain>-<k>.jsonl", "rename it, e.g. pile_cc-0.jsonl")
            layout.files[split].setdefault(m["domain"], []).append(path)
    if not layout.files["train"]:
        raise InputError(str(root / "train"), "no training files", "add train/<domain>-<k>.jsonl files")
    missing = [d for d in layout.train_domains if d not in layout.files["valid"]]
    if missing:
        raise InputError(str(root / "valid"), f"no validation file for training domain(s) {missing}", "add valid/<domain>-0.jsonl for each")
    return layout


def read_texts(path: str | Path) -> Iterator[str]:
    """The texts of a JSONL file; a line that is not a JSON object with a string `text` is an error."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(where, f"not valid JSON ({e.msg}): {line[:80]!r}", "write one JSON object per line")
            if not isinstance(obj, dict) or "text" not in obj:
                raise InputError(f"{where}, field 'text'", f"missing in {line[:80]!r}", 'write {"text": "..."} on each line')
            if not isinstance(obj["text"], str):
                raise InputError(f"{where}, field 'text'", f"value {obj['text']!r:.80} is not a string", "make text a string")
            yield obj["text"]


def validate_layout(layout: Layout) -> dict[str, dict[str, int]]:
    """Read every file once; return documents per split and domain. Empty domains are errors."""
    counts: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    for split, domains in layout.files.items():
        for domain, paths in domains.items():
            n = sum(1 for p in paths for t in read_texts(p) if t.strip())
            if n == 0:
                raise InputError(str(paths[0]), f"domain {domain!r} has no non-empty text in its {split} files", "add documents or remove the domain")
            counts[split][domain] = n
    return counts


def _write_jsonl(path: Path, texts: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")


def write_layout(out: str | Path, train: dict[str, list[str]], valid: dict[str, list[str]], meta: dict, docs_per_file: int = 1000) -> None:
    """Write documents in the paper's layout, plus `meta.json`; atomically (a directory swap)."""
    with atomic_path(out) as tmp:
        for split, domains in (("train", train), ("valid", valid)):
            (tmp / split).mkdir(parents=True)
            for domain, texts in domains.items():
                for k in range(0, max(len(texts), 1), docs_per_file):
                    _write_jsonl(tmp / split / f"{domain}-{k // docs_per_file}.jsonl", texts[k : k + docs_per_file])
        write_json(tmp / "meta.json", meta)


def copy_local(src: str | Path, out: str | Path, target: str | None, prefix: str = "") -> dict:
    """Validate a local directory in the paper's layout and link (or copy) it to `out`.

    `prefix` is prepended to every domain (and file) name: with "the_pile_", sail/regmix-data's
    `pile_cc` becomes `the_pile_pile_cc`, so the CSVs have the paper's `train_the_pile_pile_cc` columns.
    """
    layout = scan_layout(src)
    counts = validate_layout(layout)
    eval_domains = [prefix + d for d in layout.eval_domains]
    if target and target not in eval_domains:
        raise InputError("params.yaml, field domains.target", f"{target!r} has no valid/ file in {src} (prefix {prefix!r})", f"use one of {eval_domains}")
    counts = {s: {prefix + d: n for d, n in c.items()} for s, c in counts.items()}
    meta = {"source": "local", "path": str(src), "prefix": prefix, "train_domains": [prefix + d for d in layout.train_domains],
            "eval_domains": eval_domains, "target": target, "true_mixture": None, "documents": counts}
    with atomic_path(out) as tmp:
        for split, domains in layout.files.items():
            (tmp / split).mkdir(parents=True)
            for paths in domains.values():
                for p in paths:
                    try:
                        os.link(p, tmp / split / (prefix + p.name))  # no copy of possibly large files
                    except OSError:
                        shutil.copy2(p, tmp / split / (prefix + p.name))
        write_json(tmp / "meta.json", meta)
    return meta


def _field(row: dict, dotted: str, where: str):
    value = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InputError(where, f"row has no field {dotted!r} (fields: {sorted(row)})", "set domains.hf.text_field / domain_field")
        value = value[part]
    return value


def load_hf(src: HFSource, out: str | Path, target: str | None, prefix: str = "") -> dict:
    """Load a dataset with `datasets.load_dataset` and write it in the paper's layout, grouped by domain."""
    import datasets

    if not src.path:
        raise InputError("params.yaml, field domains.hf.path", "empty", "give a dataset name or a local path")
    texts: dict[str, dict[str, list[str]]] = {}
    for split, hf_split in (("train", src.train_split), ("valid", src.valid_split)):
        try:
            ds = datasets.load_dataset(src.path, src.name, data_files=src.data_files, split=hf_split)
        except ValueError as e:
            raise InputError(f"dataset {src.path!r}, split {hf_split!r}", str(e).splitlines()[0], "set domains.hf.train_split / valid_split")
        groups: dict[str, list[str]] = {}
        for i, row in enumerate(ds):
            where = f"dataset {src.path!r}, split {hf_split!r}, row {i}"
            text = _field(row, src.text_field, where)
            if not isinstance(text, str):
                raise InputError(f"{where}, field {src.text_field!r}", f"value {text!r:.80} is not a string", "point domains.hf.text_field at the text")
            groups.setdefault(prefix + domain_name(_field(row, src.domain_field, where)), []).append(text)
        texts[split] = groups
    train, valid = texts["train"], texts["valid"]
    for split, groups in texts.items():
        for d, docs in groups.items():
            if not any(t.strip() for t in docs):
                raise InputError(f"dataset {src.path!r}, split {split!r}, domain {d!r}", "no non-empty text", "drop the domain or fix the data")
    if target and target not in valid:
        raise InputError("params.yaml, field domains.target", f"{target!r} is not a domain of the validation split ({sorted(valid)})", "pick one of those")
    meta = {"source": "hf", "path": src.path, "train_domains": sorted(train), "eval_domains": sorted(valid),
            "target": target, "true_mixture": None}
    write_layout(out, train, valid, meta, src.docs_per_file)
    return meta
