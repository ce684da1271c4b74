"""Merge the per-domain token chunks into the one tokenized-data directory the later stages read (`TokenStore`)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from tokenizers import Tokenizer

from ..errors import InputError
from ..files import atomic_path, link_or_copy, read_json, write_json
from ..formats import write_mixture_yaml
from ..hashing import file_sha256


def merge_tokens(
    encoded: str | Path,
    index: dict[str, dict],
    listed: list[str],
    tokenizer: str | Path,
    out: str | Path,
    target: str | None,
    eos_token: str,
    splits: tuple[str, ...] = ("train", "valid"),
) -> dict[str, dict[str, int]]:
    """Link every domain's chunks (`encoded/<domain>/`) into `out` with counts, the token prior and a content hash.

    `index` is the domains' index ({domain: its files}) and `listed` the domains tokenized (the
    per-domain stages): a domain of the data that is not listed is an error, a listed domain
    without data is left out. The token prior (`prior.yaml`) is written when `splits` has train.
    Returns the tokens per split and domain.
    """
    encoded = Path(encoded)
    present = [d for d, e in index.items() if any(s in e for s in splits)]
    missing = [d for d in present if d not in listed]
    if missing:
        raise InputError(
            "params.yaml, field tokenize.domains",
            f"lacks {missing}, domain(s) of the data (one tokenize stage each)",
            f"set tokenize.domains to {sorted(present)}",
        )
    skipped = sorted(set(listed) - set(present))
    if skipped:
        print(f"tokenize.domains lists {skipped}, which the data does not have: left out")
    tok_sha = file_sha256(tokenizer)
    tok = Tokenizer.from_file(str(tokenizer))
    eos_id = tok.token_to_id(eos_token)
    counts: dict[str, dict[str, int]] = {s: {} for s in splits}
    chunks: dict[str, dict[str, list]] = {s: {} for s in splits}
    digest = hashlib.sha256(Path(tokenizer).read_bytes())
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        shutil.copy(tokenizer, tmp / "tokenizer.json")
        for domain in sorted(present):
            manifest = read_json(encoded / domain / "manifest.json")
            if (manifest["tokenizer_sha256"], manifest["eos_id"]) != (tok_sha, eos_id):
                raise InputError(
                    str(encoded / domain / "manifest.json"),
                    "was encoded with another tokenizer or end-of-text token",
                    f"rerun its stage: dvc repro encode@{domain}",
                )
            for split in splits:
                if split not in manifest:
                    continue
                total = sum(c["tokens"] for c in manifest[split])
                if total <= 1:
                    raise InputError(
                        str(encoded / domain / "manifest.json"),
                        f"domain {domain!r} ({split}) has no tokens",
                        "add documents or remove the domain",
                    )
                (tmp / split / domain).mkdir(parents=True)
                counts[split][domain] = total
                chunks[split][domain] = []
                for c in manifest[split]:
                    if not c["tokens"]:  # an input file of empty documents: nothing to map
                        continue
                    rel = f"{split}/{domain}/{Path(c['chunk']).name}"
                    link_or_copy(encoded / domain / c["chunk"], tmp / rel)
                    chunks[split][domain].append([rel, c["tokens"]])
                    digest.update(f"{rel}:{c['sha256']}\n".encode())
        write_json(tmp / "chunks.json", chunks)
        write_json(
            tmp / "counts.json",
            {"vocab_size": tok.get_vocab_size(), "eos_id": eos_id, **counts, "content_hash": digest.hexdigest()},
        )
        if "train" in counts:
            total = sum(counts["train"].values())
            write_mixture_yaml(tmp / "prior.yaml", {d: n / total for d, n in counts["train"].items()}, target)
    return counts
