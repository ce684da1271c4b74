"""Shared tiny fixtures: a 3-domain synthetic corpus, its layout and its tokens."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from regmix.config.data import SyntheticConfig, SyntheticDomain, TokenizerConfig
from regmix.data.synthetic import generate
from regmix.layout import write_layout
from regmix.tokenization.run import tokenize_layout

REPO = Path(__file__).resolve().parents[1]
PAPER_DATA = REPO.parent / "shared" / "regmix-paper-data"

logging.getLogger("lightning").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="lightning")


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
