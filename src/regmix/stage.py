"""What every stage script shares: parse paths, load params, turn bad input into a clear exit."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from .config.params import Params, load_params
from .errors import InputError
from .files import TMP_DIR, atomic_path

LOCK_COPY = f"{TMP_DIR}/dvc.lock"  # the last dvc.lock DVC had read whole (`keep_lock`)


def keep_lock(root: str | os.PathLike | None) -> None:
    """Copy the project's `dvc.lock` to `<root>/.regmix-tmp/dvc.lock`.

    DVC rewrites dvc.lock in place after every stage, so a kill during that write leaves it truncated and the
    next `dvc repro` stops (`'./dvc.lock' validation failed`). DVC read it whole before starting this stage and
    writes it only after, so the copy taken now is the last consistent one: copied back, the next `dvc repro`
    reruns at most the stage that was being recorded.
    """
    lock = Path(root or ".") / "dvc.lock"
    if root and lock.is_file():
        with atomic_path(Path(root) / LOCK_COPY) as tmp:
            shutil.copyfile(lock, tmp)


def run_stage(main: Callable[[argparse.Namespace, Params], None], parser: argparse.ArgumentParser) -> None:
    """Parse the command line and `params.yaml`, run `main`; bad input exits 2 with its message."""
    args = parser.parse_args()
    # Quiet the libraries' banners (Fabric, MLflow) so the progress bars stay readable.
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    keep_lock(os.environ.get("DVC_ROOT"))  # DVC sets it for the stages it runs
    try:
        main(args, load_params(os.environ.get("REGMIX_PARAMS", "params.yaml")))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
