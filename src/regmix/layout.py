"""The paper's data layout (sail/regmix-data), its one reader and its writer.

`train/<domain>-<k>[-<anything>].jsonl`, `valid/<domain>-<k>...` and, optionally, `test/<domain>-<k>...`,
one `{"text": ...}` object a line. Training domains are those with train files; every domain with valid
files is evaluated (so an evaluation-only target domain has valid files alone). The test split is held
out: proxies, regression and simulation never read it; only the final scoring of the large models does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .files import atomic_path, read_json, write_json
from .hashing import file_sha256

SPLITS = ("train", "valid", "test")
HELD_OUT = "test"  # the split no fitting, selection or tuning step reads
_FILE = re.compile(r"^(?P<domain>[A-Za-z0-9_.]+?)-(?P<k>\d+)(-[^/]*)?\.jsonl$")


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
        raise InputError(
            str(root), "directory not found", "point domains.path at a directory with train/ and valid/ subdirectories"
        )
    layout = Layout(root, {s: {} for s in SPLITS})
    for split in SPLITS:
        d = root / split
        if split == HELD_OUT and not d.is_dir():
            continue  # optional: without it, the large models have no held-out score (the report says so)
        if not d.is_dir():
            raise InputError(str(d), "directory not found", f"put the {split} files in {d}/<domain>-<k>.jsonl")
        for path in sorted(d.iterdir()):
            m = _FILE.match(path.name)
            if not m:
                raise InputError(
                    str(path), f"file name {path.name!r} is not <domain>-<k>.jsonl", "rename it, e.g. pile_cc-0.jsonl"
                )
            layout.files[split].setdefault(m["domain"], []).append(path)
    if not layout.files["train"]:
        raise InputError(str(root / "train"), "no training files", "add train/<domain>-<k>.jsonl files")
    missing = [d for d in layout.train_domains if d not in layout.files["valid"]]
    if missing:
        raise InputError(
            str(root / "valid"),
            f"no validation file for training domain(s) {missing}",
            "add valid/<domain>-0.jsonl for each",
        )
    return layout


def _line_number(path: str | Path, offset: int, i: int) -> int:
    """The line number of the `i`-th line (from 1) after byte `offset` (a line start) of `path`."""
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(min(1 << 20, offset - f.tell())), b"")) + i


def read_texts(path: str | Path, start: int = 0, end: int | None = None) -> Iterator[str]:
    """The texts of a JSONL file; a line that is not UTF-8, or not a JSON object with a string `text`, is an error.

    With `start` and `end` (byte offsets of line starts), only the lines in between: a part of a big file.
    """

    def where(i: int) -> str:  # counting the lines before a part's start costs a read: only for an error
        return f"{path}, line {_line_number(path, start, i) if start else i}"

    with open(path, "rb") as f:  # decoded line by line, so an error names its line
        f.seek(start)
        pos = start
        for i, raw in enumerate(f, start=1):
            if end is not None and pos >= end:
                break
            pos += len(raw)
            try:
                line = raw.decode("utf-8-sig" if pos == len(raw) else "utf-8")  # a byte-order mark may start the file
            except UnicodeDecodeError as e:
                raise InputError(
                    where(i), f"is not UTF-8 ({e.reason} at byte {e.start}): {raw[:80]!r}", "save the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(
                    where(i), f"not valid JSON ({e.msg}): {line[:80]!r}", "write one JSON object per line"
                ) from None
            if not isinstance(obj, dict) or "text" not in obj:
                raise InputError(
                    f"{where(i)}, field 'text'", f"missing in {line[:80]!r}", 'write {"text": "..."} on each line'
                )
            if not isinstance(obj["text"], str):
                raise InputError(
                    f"{where(i)}, field 'text'", f"value {obj['text']!r:.80} is not a string", "make text a string"
                )
            text = obj["text"]
            if not text.isascii():  # JSON may escape a lone surrogate (\ud800), which no tokenizer can encode
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise InputError(
                        f"{where(i)}, field 'text'",
                        f"has an unpaired surrogate {text[e.start : e.end]!r} at character {e.start}",
                        "remove it or write the character itself",
                    ) from None
            yield text


def validate_layout(layout: Layout) -> dict[str, dict[str, int]]:
    """Read every file once; return documents per split and domain. Empty domains are errors."""
    counts: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    for split, domains in layout.files.items():
        for domain, paths in domains.items():
            n = sum(1 for p in paths for t in read_texts(p) if t.strip())
            if n == 0:
                raise InputError(
                    str(paths[0]),
                    f"domain {domain!r} has no non-empty text in its {split} files",
                    "add documents or remove the domain",
                )
            counts[split][domain] = n
    return counts


def _write_jsonl(path: Path, texts: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")


def write_layout(
    out: str | Path, splits: dict[str, dict[str, list[str]]], meta: dict, docs_per_file: int = 1000
) -> None:
    """Write documents ({split: {domain: texts}}) in the paper's layout, plus `meta.json`; atomically."""
    with atomic_path(out) as tmp:
        for split, domains in splits.items():
            (tmp / split).mkdir(parents=True)
            for domain, texts in domains.items():
                for k in range(0, max(len(texts), 1), docs_per_file):
                    _write_jsonl(tmp / split / f"{domain}-{k // docs_per_file}.jsonl", texts[k : k + docs_per_file])
        write_json(tmp / "meta.json", meta)


INDEX = "index"  # <root>/index/<domain>.json: each domain's files with their sizes and SHA-256
TEST_INDEX = "test-index.json"  # <root>/test-index.json: the held-out split's files, for the test-scoring stage


def index_layout(root: str | Path, also: list[str] | tuple[str, ...] = ()) -> dict[str, dict]:
    """Write `<root>/index/<domain>.json` for every domain of the layout, and an empty one for each of `also` absent.

    One DVC stage per domain depends on its domain's index alone, so changing one domain's files
    reruns that domain only; the hashes also key the token cache (a file seen before is not
    tokenized again). A domain listed in `also` but absent from the data gets an index without files.
    The held-out test split is indexed apart, in `<root>/test-index.json` (empty without one): the
    test-scoring stage depends on it alone, so changing test documents reruns no training stage.
    """
    root = Path(root)
    layout = scan_layout(root)
    write_json(root / TEST_INDEX, held_out_index(layout))
    index: dict[str, dict] = {d: {"domain": d} for d in also}
    for split, domains in layout.files.items():
        if split == HELD_OUT:
            continue
        for domain, paths in domains.items():
            index.setdefault(domain, {"domain": domain})[split] = [
                {"file": f"{split}/{p.name}", "bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in paths
            ]
    (root / INDEX).mkdir(exist_ok=True)
    for domain, entry in sorted(index.items()):
        write_json(root / INDEX / f"{domain}.json", entry)
    return index


def held_out_index(layout: Layout) -> dict[str, dict]:
    """{domain: {"test": [files]}} of the layout's held-out split, in `index_layout`'s format (empty without one)."""
    files = layout.files.get(HELD_OUT, {})
    return {
        d: {
            "domain": d,
            HELD_OUT: [
                {"file": f"{HELD_OUT}/{p.name}", "bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in paths
            ],
        }
        for d, paths in sorted(files.items())
    }


def read_test_index(root: str | Path) -> dict[str, dict]:
    """The held-out split's index written by `index_layout`."""
    path = Path(root) / TEST_INDEX
    if not path.is_file():
        raise InputError(str(path), "file not found", "run the domains stage (it indexes the layout)")
    return read_json(path)


def read_index(root: str | Path) -> dict[str, dict]:
    """{domain: index} of a layout indexed by `index_layout`."""
    d = Path(root) / INDEX
    if not d.is_dir():
        raise InputError(str(d), "directory not found", "run the domains stage (it indexes the layout)")
    return {p.stem: read_json(p) for p in sorted(d.glob("*.json"))}


class LayoutWriter:
    """Documents streamed straight into the paper's layout: one open file per split and domain.

    A domain's file is closed after `docs_per_file` documents or `file_bytes` bytes and the next one
    (`<domain>-<k+1>.jsonl`) started, so memory holds no documents and files stay a size that
    tokenizes in parallel. `counts` holds the non-empty documents per split and domain. Use it in a
    `with` block (it closes its files).
    """

    def __init__(self, root: Path, docs_per_file: int | None = None, file_bytes: int | None = None):
        self.root, self.docs_per_file, self.file_bytes = root, docs_per_file, file_bytes
        self.counts: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
        self._open: dict[tuple[str, str], list] = {}  # (split, domain) -> [file, k, docs, bytes]

    def __enter__(self) -> LayoutWriter:
        return self

    def __exit__(self, *exc) -> None:
        for entry in self._open.values():
            entry[0].close()

    def add(self, split: str, domain: str, text: str) -> None:
        entry = self._open.get((split, domain))
        full = entry and (
            (self.docs_per_file and entry[2] >= self.docs_per_file) or (self.file_bytes and entry[3] >= self.file_bytes)
        )
        if entry is None or full:
            k = entry[1] + 1 if entry else 0
            if entry:
                entry[0].close()
            (self.root / split).mkdir(parents=True, exist_ok=True)
            path = self.root / split / f"{domain}-{k}.jsonl"
            # kept open across calls (one per domain), closed when full or on exit
            entry = self._open[(split, domain)] = [open(path, "w", encoding="utf-8"), k, 0, 0]  # noqa: SIM115
        line = json.dumps({"text": text}, ensure_ascii=False) + "\n"
        entry[0].write(line)
        entry[2] += 1
        entry[3] += len(line)
        counts = self.counts[split]
        counts[domain] = counts.get(domain, 0) + bool(text.strip())
