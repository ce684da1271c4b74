import numpy as np
import pytest

from regmix.config.data import EOS, TokenizerConfig
from regmix.errors import InputError
from regmix.token_store import TokenArray, TokenStore
from regmix.tokenization.run import tokenize_layout
from regmix.tokenization.tokenizer import load_tokenizer


def test_token_arrays_counts_and_prior(tokens_dir):
    store = TokenStore(tokens_dir)
    assert store.train_domains == ["alpha", "beta", "gamma"]
    assert store.eval_domains == ["alpha", "beta", "gamma", "target"]
    a = store.array("train", "alpha")
    assert a.dtype == np.uint16 and len(a) == store.counts["train"]["alpha"]
    assert len(a.paths) == 3  # one chunk per input file (alpha-0, -1, -2.jsonl)
    assert int(a[-1]) == store.eos_id and int(np.asarray(a).max()) < store.vocab_size
    # every chunk ends a document: the EOS closes each one
    assert all(int(a[int(e) - 1]) == store.eos_id for e in a.ends)
    prior = store.prior()
    total = sum(store.counts["train"].values())
    assert prior["alpha"] == pytest.approx(store.counts["train"]["alpha"] / total)


def test_token_array_reads_across_chunk_boundaries(tmp_path):
    parts = [np.arange(0, 5), np.arange(5, 6), np.zeros(0, dtype=np.int64), np.arange(6, 13)]
    parts = [p.astype(np.uint16) for p in parts if len(p)]  # the merge leaves empty chunks out
    for i, p in enumerate(parts):
        np.save(tmp_path / f"{i}.npy", p)
    a = TokenArray([tmp_path / f"{i}.npy" for i in range(len(parts))], [len(p) for p in parts], np.uint16)
    whole = np.arange(13, dtype=np.uint16)
    assert len(a) == 13 and np.array_equal(np.asarray(a), whole)
    for s in (slice(3, 9), slice(4, 6), slice(5, 6), slice(0, 13), slice(11, 99), slice(7, 3), slice(-4, None)):
        got = a[s]
        assert isinstance(got, np.ndarray) and got.dtype == np.uint16 and np.array_equal(got, whole[s]), s
    assert a[1:12:3].tolist() == whole[1:12:3].tolist()
    assert int(a[5]) == 5 and int(a[-1]) == 12 and int(a[6]) == 6
    with pytest.raises(IndexError):
        a[13]


def test_bpe_is_deterministic(layout_dir, tmp_path, tokens_dir):
    tokenize_layout(layout_dir, tmp_path / "again", TokenizerConfig(vocab_size=300), "target")
    assert (tmp_path / "again" / "tokenizer.json").read_bytes() == (tokens_dir / "tokenizer.json").read_bytes()
    for name in ("counts.json", "chunks.json", "prior.yaml", "train/beta/beta-1.npy"):
        assert (tmp_path / "again" / name).read_bytes() == (tokens_dir / name).read_bytes(), name


def test_given_tokenizer_json(layout_dir, tmp_path, tokens_dir):
    counts = tokenize_layout(
        layout_dir, tmp_path / "t", TokenizerConfig(path=str(tokens_dir / "tokenizer.json")), "target"
    )
    assert counts["train"] == TokenStore(tokens_dir).counts["train"]
    with pytest.raises(InputError, match="tokenizer.path"):
        load_tokenizer(tmp_path / "missing.json", EOS)
    with pytest.raises(InputError, match="'<eos>'.*not in the vocabulary"):
        load_tokenizer(tokens_dir / "tokenizer.json", "<eos>")
