"""A local directory in the paper's layout as the domains: validated, then hard-linked (or copied)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import InputError
from ..files import atomic_path, write_json
from ..layout import scan_layout, validate_layout


def copy_local(src: str | Path, out: str | Path, target: str | None, prefix: str = "") -> dict:
    """Validate a local directory in the paper's layout and link (or copy) it to `out`.

    `prefix` is prepended to every domain (and file) name: with "the_pile_", sail/regmix-data's
    `pile_cc` becomes `the_pile_pile_cc`, so the CSVs have the paper's `train_the_pile_pile_cc` columns.
    """
    layout = scan_layout(src)
    counts = validate_layout(layout)
    eval_domains = [prefix + d for d in layout.eval_domains]
    if target and target not in eval_domains:
        raise InputError(
            "params.yaml, field domains.target",
            f"{target!r} has no valid/ file in {src} (prefix {prefix!r})",
            f"use one of {eval_domains}",
        )
    counts = {s: {prefix + d: n for d, n in c.items()} for s, c in counts.items()}
    meta = {
        "source": "local",
        "path": str(src),
        "prefix": prefix,
        "train_domains": [prefix + d for d in layout.train_domains],
        "eval_domains": eval_domains,
        "target": target,
        "true_mixture": None,
        "documents": counts,
    }
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
