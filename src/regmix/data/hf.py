"""A Hugging Face dataset as the domains, streamed with `datasets` into the paper's layout."""

from __future__ import annotations

from pathlib import Path

from ..config.data import HFSource
from ..errors import InputError
from ..files import atomic_path, write_json
from ..layout import LayoutWriter, domain_name


def _field(row: dict, dotted: str, where: str):
    value = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InputError(
                where,
                f"row has no field {dotted!r} (fields: {sorted(row)})",
                "set domains.hf.text_field / domain_field",
            )
        value = value[part]
    return value


def load_hf(src: HFSource, out: str | Path, target: str | None, prefix: str = "") -> dict:
    """Stream a dataset (`datasets.load_dataset(..., streaming=True)`) into the paper's layout, grouped by domain.

    Rows are written as they arrive (`docs_per_file` a file), so a dataset larger than memory (or
    disk, for a hub dataset) goes through in one pass.
    """
    import datasets

    if not src.path:
        raise InputError("params.yaml, field domains.hf.path", "empty", "give a dataset name or a local path")
    with atomic_path(out) as tmp, LayoutWriter(tmp, docs_per_file=src.docs_per_file) as writer:
        named = (("train", src.train_split), ("valid", src.valid_split), ("test", src.test_split))
        for split, hf_split in ((s, h) for s, h in named if h):
            try:
                ds = datasets.load_dataset(
                    src.path, src.name, data_files=src.data_files, split=hf_split, streaming=True
                )
            except ValueError as e:
                raise InputError(
                    f"dataset {src.path!r}, split {hf_split!r}",
                    str(e).splitlines()[0],
                    "set domains.hf.train_split / valid_split",
                ) from None
            for i, row in enumerate(ds):
                where = f"dataset {src.path!r}, split {hf_split!r}, row {i}"
                text = _field(row, src.text_field, where)
                if not isinstance(text, str):
                    raise InputError(
                        f"{where}, field {src.text_field!r}",
                        f"value {text!r:.80} is not a string",
                        "point domains.hf.text_field at the text",
                    )
                writer.add(split, prefix + domain_name(_field(row, src.domain_field, where)), text)
        for split, counts in writer.counts.items():
            for d, n in counts.items():
                if n == 0:
                    raise InputError(
                        f"dataset {src.path!r}, split {split!r}, domain {d!r}",
                        "no non-empty text",
                        "drop the domain or fix the data",
                    )
        train, valid = writer.counts["train"], writer.counts["valid"]
        if target and target not in valid:
            raise InputError(
                "params.yaml, field domains.target",
                f"{target!r} is not a domain of the validation split ({sorted(valid)})",
                "pick one of those",
            )
        meta = {
            "source": "hf",
            "path": src.path,
            "train_domains": sorted(train),
            "eval_domains": sorted(valid),
            "target": target,
            "true_mixture": None,
        }
        write_json(tmp / "meta.json", meta)
    return meta
