"""Shared tiny fixtures: a 3-domain synthetic corpus, its layout and its tokens."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

from regmix.config.data import SyntheticConfig, SyntheticDomain, TokenizerConfig
from regmix.data.synthetic import generate
from regmix.layout import write_layout
from regmix.tokenization.run import tokenize_layout

# Two xdist workers share the machine's cores (CI: 2): one thread each, in this process (torch, numpy's BLAS) and
# in the processes the tests start (OpenMP; stages set torch's own from params.yaml): threads beyond the cores
# wait on each other, and the in-process training tests slowed many times beside the pipeline tests.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)
threadpool_limits(1)

REPO = Path(__file__).resolve().parents[1]
PAPER_DATA = REPO.parent / "shared" / "regmix-paper-data"

logging.getLogger("lightning").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="lightning")


# The two modules that run a whole pipeline under DVC, each minutes on one worker: first, so that xdist starts them
# at once on different workers and the other modules fill in around them (pyproject.toml: --dist loadfile
# --no-loadscope-reorder keeps this order; xdist's default reorder puts the modules with the most tests first).
LONGEST = ("test_pipeline.py", "test_paper_profile.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: LONGEST.index(item.path.name) if item.path.name in LONGEST else len(LONGEST))


def tiny_synthetic(seed: int = 0) -> SyntheticConfig:
    return SyntheticConfig(
        domains={"alpha": SyntheticDomain(0, 60), "beta": SyntheticDomain(0, 40), "gamma": SyntheticDomain(1, 50)},
        target_weights={"alpha": 0.7, "gamma": 0.3},
        valid_docs=10,
        test_docs=10,
        doc_words=(30, 60),
        cluster_words=60,
        own_words=40,
        seed=seed,
    )


@pytest.fixture(scope="session")
def layout_dir(tmp_path_factory) -> Path:
    cfg = tiny_synthetic()
    out = tmp_path_factory.mktemp("layout") / "domains"
    write_layout(out, generate(cfg), {"true_mixture": cfg.true_mixture}, docs_per_file=25)
    return out


@pytest.fixture(scope="session")
def tokens_dir(layout_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tokens") / "tokens"
    tokenize_layout(layout_dir, out, TokenizerConfig(vocab_size=300), "target")
    return out
