"""A Hugging Face dataset as the domains, loaded with `datasets` and written in the paper's layout."""

from __future__ import annotations

from pathlib import Path

from ..config.data import HFSource
from ..errors import InputError
from ..layout import domain_name, write_layout


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
    """Load a dataset with `datasets.load_dataset` and write it in the paper's layout, grouped by domain."""
    import datasets

    if not src.path:
        raise InputError("params.yaml, field domains.hf.path", "empty", "give a dataset name or a local path")
    texts: dict[str, dict[str, list[str]]] = {}
    for split, hf_split in (("train", src.train_split), ("valid", src.valid_split)):
        try:
            ds = datasets.load_dataset(src.path, src.name, data_files=src.data_files, split=hf_split)
        except ValueError as e:
            raise InputError(
                f"dataset {src.path!r}, split {hf_split!r}",
                str(e).splitlines()[0],
                "set domains.hf.train_split / valid_split",
            ) from None
        groups: dict[str, list[str]] = {}
        for i, row in enumerate(ds):
            where = f"dataset {src.path!r}, split {hf_split!r}, row {i}"
            text = _field(row, src.text_field, where)
            if not isinstance(text, str):
                raise InputError(
                    f"{where}, field {src.text_field!r}",
                    f"value {text!r:.80} is not a string",
                    "point domains.hf.text_field at the text",
                )
            groups.setdefault(prefix + domain_name(_field(row, src.domain_field, where)), []).append(text)
        texts[split] = groups
    train, valid = texts["train"], texts["valid"]
    for split, groups in texts.items():
        for d, docs in groups.items():
            if not any(t.strip() for t in docs):
                raise InputError(
                    f"dataset {src.path!r}, split {split!r}, domain {d!r}",
                    "no non-empty text",
                    "drop the domain or fix the data",
                )
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
    write_layout(out, train, valid, meta, src.docs_per_file)
    return meta
