"""The tokenizer: a byte-level BPE trained on the training domains, or a given `tokenizer.json`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from ..config.data import EOS, TokenizerConfig
from ..errors import InputError
from ..files import atomic_path
from ..layout import read_texts, scan_layout


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE (GPT-2 style) trained on `texts`, with `EOS` as its one special token."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def load_tokenizer(path: str | Path, eos_token: str) -> Tokenizer:
    """Load a `tokenizer.json`; its vocabulary must contain `eos_token`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "params.yaml, field tokenizer.path",
            f"file {str(path)!r} not found",
            "give the path of a tokenizer.json, or null to train a BPE",
        )
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # the tokenizers library raises a bare Exception for a malformed file
        raise InputError(
            str(path),
            f"not a readable tokenizer.json ({str(e).splitlines()[0]})",
            "give a tokenizer.json saved by Hugging Face tokenizers",
        ) from None
    if tok.token_to_id(eos_token) is None:
        raise InputError(
            f"{path}, token {eos_token!r}",
            "not in the vocabulary",
            "set tokenizer.eos_token to the tokenizer's end-of-text token",
        )
    return tok


def build_tokenizer(domains: str | Path, cfg: TokenizerConfig, out: str | Path) -> Tokenizer:
    """The tokenizer of `cfg`, saved atomically to `out`: a given tokenizer.json, or a BPE trained on train files."""
    if cfg.path:
        tok = load_tokenizer(cfg.path, cfg.eos_token)
    else:
        files = scan_layout(domains).files["train"]
        tok = train_bpe((t for ps in files.values() for p in ps for t in read_texts(p)), cfg.vocab_size)
    with atomic_path(out) as tmp:
        tok.save(str(tmp))
    return tok
