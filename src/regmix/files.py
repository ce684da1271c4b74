"""Atomic file writes: an interrupted run leaves the old file or the new one, never half of one.

A write goes to a temporary entry, then one rename puts it in place. Temporary entries live in
the project's temporary folder, `<root>/.regmix-tmp/` (the root: the nearest folder above the
output holding `.dvc/`), not beside the output: a write killed half-way must leave nothing in a
folder that a stage depends on (e.g. `models/large/`, a dependency of the report stage). Where
there is no DVC root, or the output is on another file system than the root (a rename cannot
cross file systems), the folder is `.regmix-tmp/` beside the output; `.dvcignore` and
`.gitignore` ignore it at any depth.

Each temporary entry is named `<host>@<pid>@<random>` after the process that owns it, and every
write first removes the entries of dead processes of this host: a rerun after a kill leaves no
leftover, and never touches the entries of a live process (DVC may run stages in parallel, and
several hosts may share the folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from .errors import InputError

TMP_DIR = ".regmix-tmp"


def temp_area(path: str | os.PathLike) -> Path:
    """The folder for the temporary entries of writes to `path` (see the module's docstring)."""
    parent = Path(os.path.abspath(Path(path).parent))  # not resolved: a symlinked `data/` still finds the root
    for folder in (parent, *parent.parents):
        if (folder / ".dvc").is_dir():
            if os.stat(folder).st_dev == os.stat(parent).st_dev:
                return folder / TMP_DIR
            break
    return parent / TMP_DIR


def _alive(pid: int) -> bool:
    if os.name == "nt":  # signal 0 is not a probe on Windows: assume alive, never remove
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a live process of another user
        pass
    return True


def remove_stale(area: str | os.PathLike) -> list[Path]:
    """Remove the temporary entries in `area` owned by dead processes of this host; return them."""
    try:
        entries = list(Path(area).iterdir())
    except FileNotFoundError:
        return []
    host, removed = socket.gethostname(), []
    for entry in entries:
        owner_host, _, rest = entry.name.partition("@")
        pid = rest.partition("@")[0]
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _make_entry(area: Path) -> Path:
    while True:
        area.mkdir(exist_ok=True)
        try:
            return Path(tempfile.mkdtemp(prefix=f"{socket.gethostname()}@{os.getpid()}@", dir=area))
        except FileNotFoundError:  # another process removed the (then empty) area in between: make it again
            continue


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path named as `path`; on success rename it onto `path` (file or directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    area = temp_area(path)
    remove_stale(area)
    entry = _make_entry(area)
    tmp = entry / path.name
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            os.replace(path, entry / f"{path.name}.old")  # out of the way in one step, removed with the entry
        os.replace(tmp, path)
    finally:
        shutil.rmtree(entry, ignore_errors=True)
        with contextlib.suppress(OSError):
            area.rmdir()  # only if empty: others may be writing


def link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Hard-link `src` to `dst` (no copy of possibly large files), or copy it across file systems."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically (fsynced before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_yaml(path: str | os.PathLike, obj) -> None:
    write_text(path, yaml.safe_dump(obj, sort_keys=False))


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_yaml(path: str | os.PathLike):
    """A YAML file's content; a file that is not UTF-8 or not YAML is an InputError naming the line."""
    raw = Path(path).read_bytes()
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError(
            f"{path}, line {line}", f"is not UTF-8 ({e.reason} at byte {e.start})", "save the file as UTF-8"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(where, f"not valid YAML ({problem})", "fix the YAML syntax there") from None
