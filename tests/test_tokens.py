import numpy as np
import pytest

from regmix.config.data import EOS, TokenizerConfig
from regmix.errors import InputError
from regmix.layout import scan_layout
from regmix.token_store import TokenStore
from regmix.tokenization.encode import tokenize_layout
from regmix.tokenization.tokenizer import load_tokenizer


def test_token_arrays_counts_and_prior(tokens_dir):
    store = TokenStore(tokens_dir)
    assert store.train_domains == ["alpha", "beta", "gamma"]
    assert store.eval_domains == ["alpha", "beta", "gamma", "target"]
    a = store.array("train", "alpha")
    assert isinstance(a, np.memmap) and a.dtype == np.uint16 and len(a) == store.counts["train"]["alpha"]
    assert int(a[-1]) == store.eos_id and int(a.max()) < store.vocab_size
    prior = store.prior()
    total = sum(store.counts["train"].values())
    assert prior["alpha"] == pytest.approx(store.counts["train"]["alpha"] / total)


def test_bpe_is_deterministic(layout_dir, tmp_path, tokens_dir):
    tokenize_layout(scan_layout(layout_dir), tmp_path / "again", TokenizerConfig(vocab_size=300), "target")
    assert (tmp_path / "again" / "tokenizer.json").read_bytes() == (tokens_dir / "tokenizer.json").read_bytes()
    assert (tmp_path / "again" / "train" / "beta.npy").read_bytes() == (tokens_dir / "train" / "beta.npy").read_bytes()


def test_given_tokenizer_json(layout_dir, tmp_path, tokens_dir):
    counts = tokenize_layout(
        scan_layout(layout_dir), tmp_path / "t", TokenizerConfig(path=str(tokens_dir / "tokenizer.json")), "target"
    )
    assert counts["train"] == TokenStore(tokens_dir).counts["train"]
    with pytest.raises(InputError, match="tokenizer.path"):
        load_tokenizer(tmp_path / "missing.json", EOS)
    with pytest.raises(InputError, match="'<eos>'.*not in the vocabulary"):
        load_tokenizer(tokens_dir / "tokenizer.json", "<eos>")
