"""Matplotlib for the pipeline's figures: the Agg backend (no screen), reproducible PNGs, short labels."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .files import atomic_path  # noqa: E402

__all__ = ["plt", "save_figure", "short_name"]


def save_figure(fig, path: str | Path) -> None:
    """Write `fig` as a PNG atomically and close it."""
    with atomic_path(path) as tmp:
        # No version tag: the PNG bytes then depend only on the data (reproducible DVC outputs).
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png", metadata={"Software": None})
    plt.close(fig)


def short_name(name: str) -> str:
    """Readable domain/target labels: drop the paper's `metric/`, `the_pile_` and `_val_loss` parts."""
    return name.removeprefix("metric/").removeprefix("the_pile_").removesuffix("_val_loss")
