"""The whole tokenization of a layout in one call (what the tokenizer, encode@<domain> and tokenize stages do)."""

from __future__ import annotations

from pathlib import Path

from ..config.data import TokenizeParams, TokenizerConfig
from ..layout import index_layout
from .encode import encode_domains
from .merge import merge_tokens
from .tokenizer import build_tokenizer


def tokenize_layout(
    domains: str | Path,
    out: str | Path,
    cfg: TokenizerConfig,
    target: str | None,
    params: TokenizeParams | None = None,
    work: str | Path | None = None,
) -> dict[str, dict[str, int]]:
    """Index `domains`, build the tokenizer, encode every domain and merge them into `out`; return the counts.

    `work` holds the per-domain chunks and the chunk cache (default: `.<out name>.work` beside `out`),
    so a second call with the same work directory encodes only what changed.
    """
    out = Path(out)
    work = Path(work) if work else out.parent / f".{out.name}.work"
    index = index_layout(domains)
    params = params or TokenizeParams(domains=sorted(index))
    build_tokenizer(domains, cfg, work / "tokenizer.json")
    encode_domains(
        domains, index, work / "tokenizer.json", work / "encoded", work / "cache", cfg.eos_token, params, cfg.batch_size
    )
    return merge_tokens(work / "encoded", index, params.domains, work / "tokenizer.json", out, target, cfg.eos_token)
