"""Stable hashes: of JSON-able values (cache and run keys), of files (data), of source code (code that decides a "
"result)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def key_of(obj) -> str:
    """A short stable hash of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def files_hash(root: str | Path, names: list[str]) -> str:
    """SHA-256 of the files `names` (relative to `root`): their names and contents, in the given order."""
    h = hashlib.sha256()
    root = Path(root)
    for rel in names:
        h.update(str(rel).encode() + b"\0")
        with open(root / rel, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of one file's contents, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def source_hash(files, root: str | Path) -> str:
    """SHA-256 of source files (paths relative to `root`, contents), in sorted order: changes when any line does."""
    return files_hash(root, sorted(str(Path(f).relative_to(root)) for f in files))
