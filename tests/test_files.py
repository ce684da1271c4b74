"""Atomic writes: temporary entries outside the output's folder, and no leftover after a SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from regmix.files import TMP_DIR, atomic_path, temp_area, write_text

# holds a half-written directory inside `atomic_path` until a line arrives on stdin (or it is killed)
_HOLD = """
import sys
from regmix.files import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.mkdir()
    (tmp / "lit_model.pth").write_text("half-written")
    print(tmp, flush=True)
    sys.stdin.readline()
"""


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / ".dvc").mkdir(parents=True)
    (root / "models/large/prior").mkdir(parents=True)
    (root / "models/large/prior/lit_model.pth").write_text("prior")
    return root


def _hold(path: Path) -> tuple[subprocess.Popen, Path]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    p = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    return p, Path(p.stdout.readline().strip())


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_temporary_entries_live_in_the_project_folder_not_beside_the_output(tmp_path):
    root = _project(tmp_path)
    before = _listing(root / "models")
    with atomic_path(root / "models/large/regmix") as tmp:
        assert tmp.parent.parent == root / TMP_DIR
        assert tmp.parent.name.startswith(f"{socket.gethostname()}@{os.getpid()}@")  # its owner: this process
        tmp.mkdir()
        (tmp / "lit_model.pth").write_text("new")
        assert _listing(root / "models") == before  # nothing in the folder the report stage depends on
    assert (root / "models/large/regmix/lit_model.pth").read_text() == "new"
    assert not (root / TMP_DIR).exists()  # removed once empty
    # outside a DVC project the entry goes beside the output, in the same (ignored) folder name
    assert temp_area(tmp_path / "elsewhere/x.json") == tmp_path / "elsewhere" / TMP_DIR


def test_replacing_a_directory_leaves_only_the_new_content(tmp_path):
    root = _project(tmp_path)
    with atomic_path(root / "models/large/prior") as tmp:
        tmp.mkdir()
        (tmp / "other.pth").write_text("new")
    assert _listing(root / "models/large/prior") == ["other.pth"]
    write_text(root / "models/large/prior/other.pth", "newer")  # a file inside the just-replaced folder
    assert _listing(root / "models/large/prior") == ["other.pth"] and not (root / TMP_DIR).exists()


def test_a_killed_writer_leaves_the_old_output_and_the_next_write_removes_its_leftover(tmp_path):
    root = _project(tmp_path)
    killed, killed_tmp = _hold(root / "models/large/prior")
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert (root / "models/large/prior/lit_model.pth").read_text() == "prior"  # the old output, untouched
    assert killed_tmp.parent.parent == root / TMP_DIR and (killed_tmp / "lit_model.pth").is_file()  # the leftover

    live, live_tmp = _hold(root / "models/large/uniform")  # a concurrent stage, still writing
    write_text(root / "reports/metrics.json", "{}")  # any write in the project
    assert not killed_tmp.parent.exists(), "the dead process's leftover was not removed"
    assert (live_tmp / "lit_model.pth").read_text() == "half-written"  # the live one's is kept
    live.communicate("\n", timeout=60)
    assert live.returncode == 0
    assert (root / "models/large/uniform/lit_model.pth").read_text() == "half-written"
    assert not (root / TMP_DIR).exists()
