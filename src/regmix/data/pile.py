"""The raw Pile as the domains: `*.jsonl.zst` (or `.jsonl`) shards split by `meta.pile_set_name` in one streaming pass.

Each line is `{"text": ..., "meta": {"pile_set_name": "Pile-CC"}}`; its domain name is normalised
to the paper's (`Pile-CC` -> `pile_cc`, `Github` -> `github`) and the text written straight into
the paper's layout, cutting each domain's files at `file_mb` MB. Nothing is held in memory but the
line being read; the shards are read in sorted order, so the layout is the same on every run.
"""

from __future__ import annotations

import glob
import io
import json
from collections.abc import Iterator
from pathlib import Path

from ..config.data import PileSource
from ..errors import InputError
from ..files import atomic_path, write_json
from ..layout import LayoutWriter, domain_name


def shard_files(patterns: list[str], field: str) -> list[Path]:
    """The files of a list of paths or globs, each pattern matching at least one file."""
    files: list[Path] = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if not found:
            raise InputError(
                f"params.yaml, field domains.pile.{field}",
                f"{pattern!r} matches no file",
                "give the Pile's shards, e.g. /data/pile/train/*.jsonl.zst",
            )
        files += [Path(p) for p in found]
    return files


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a `.jsonl.zst` (decompressed as a stream) or plain `.jsonl` file."""
    with open(path, "rb") as raw:
        if path.name.endswith(".zst"):
            import zstandard

            raw = zstandard.ZstdDecompressor().stream_reader(raw)
        yield from io.TextIOWrapper(raw, encoding="utf-8")


def _numbered(path: Path) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a shard with their numbers; bytes that are not UTF-8 are an error naming the line."""
    n = 0
    try:
        for n, line in enumerate(read_lines(path), start=1):  # noqa: B007 (n is read after the loop on an error)
            if line.strip():
                yield n, line
    except UnicodeDecodeError as e:
        raise InputError(f"{path}, line {n + 1}", f"not UTF-8 ({e.reason})", "re-encode the shard as UTF-8") from None


def _field(obj: dict, dotted: str, where: str):
    value = obj
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InputError(f"{where}, field {dotted!r}", "missing", "set domains.pile.text_field / domain_field")
        value = value[part]
    return value


def load_pile(src: PileSource, out: str | Path, target: str | None, prefix: str = "") -> dict:
    """Split the Pile's shards into the paper's layout at `out` (atomically); return the meta written."""
    shards = {s: shard_files(getattr(src, s), s) for s in ("train", "valid", "test")}
    with atomic_path(out) as tmp, LayoutWriter(tmp, file_bytes=src.file_mb << 20) as writer:
        for split, files in shards.items():
            for path in files:
                for n, line in _numbered(path):
                    where = f"{path}, line {n}"
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise InputError(where, f"not valid JSON ({e.msg}): {line[:80]!r}", "fix the shard") from None
                    text = _field(obj, src.text_field, where)
                    if not isinstance(text, str):
                        raise InputError(
                            f"{where}, field {src.text_field!r}", f"value {text!r:.80} is not a string", "fix the shard"
                        )
                    writer.add(split, prefix + domain_name(_field(obj, src.domain_field, where)), text)
        train, valid = writer.counts["train"], writer.counts["valid"]
        empty = [f"{s}/{d}" for s, c in writer.counts.items() for d, k in c.items() if k == 0]
        if empty or not train:
            raise InputError(
                f"domains.pile shards {src.train + src.valid}",
                f"no non-empty text in {empty or 'the train split'}",
                "check the shards",
            )
        if target and target not in valid:
            raise InputError(
                "params.yaml, field domains.target",
                f"{target!r} is not a domain of the validation shards ({sorted(valid)})",
                "pick one of those",
            )
        missing = sorted(set(train) - set(valid))
        if missing:
            raise InputError(
                f"domains.pile.valid {src.valid}", f"no validation text for {missing}", "add their validation shards"
            )
        meta = {
            "source": "pile",
            "train_domains": sorted(train),
            "eval_domains": sorted(valid),
            "target": target,
            "true_mixture": None,
            "documents": writer.counts,
        }
        write_json(tmp / "meta.json", meta)
    return meta
