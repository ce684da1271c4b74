"""The project's file formats, one reader and one writer each, used by every stage and the `regmix` command.

- Mixtures CSV (the paper's `train_mixture_1m.csv`): `index` then one `train_<domain>` column per domain.
- Mixture YAML (the paper's `mixture_config/*.yaml`): `train: {train_<domain>: w}`, `valid: {valid_<target>: 1}`.
- Losses CSV (the paper's `train_pile_loss_1m.csv`): `index` then one `metric/<domain>_val_loss` column per domain.
- Curves CSV: `index,step,<domain>...`, validation loss by step (long format).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .files import read_yaml, write_text, write_yaml

TRAIN_PREFIX = "train_"
VALID_PREFIX = "valid_"
LOSS_PREFIX, LOSS_SUFFIX = "metric/", "_val_loss"
SUM_TOLERANCE = 0.01  # a mixtures CSV row's weights sum to 1 up to rounding (the paper's: 0.996 to 1.003)


def loss_column(domain: str) -> str:
    """The losses CSV column of a domain: `metric/<domain>_val_loss`."""
    return f"{LOSS_PREFIX}{domain}{LOSS_SUFFIX}"


def loss_domain(column: str) -> str:
    """The domain of a losses CSV column (`metric/the_pile_pile_cc_val_loss` -> `the_pile_pile_cc`)."""
    return column.removeprefix(LOSS_PREFIX).removesuffix(LOSS_SUFFIX)


def domain_of(column: str) -> str:
    """A mixture column or key without the paper's `train_` prefix (`train_pile_cc` -> `pile_cc`)."""
    return str(column).removeprefix(TRAIN_PREFIX)


# ---------------------------------------------------------------- mixtures


def validate_mixture(weights: dict, domains: list[str], where: str, normalize: bool = True) -> dict[str, float]:
    """Check a {domain: weight} mapping against the known domains; return it complete and normalised."""
    out = {d: 0.0 for d in domains}
    for name, value in weights.items():
        if name not in out:
            raise InputError(
                f"{where}, field {name!r}",
                f"unknown domain {name!r} (value {value!r})",
                f"use one of the domains of the tokenized data: {', '.join(domains)}",
            )
        try:
            w = float(value)
        except (TypeError, ValueError):
            raise InputError(
                f"{where}, field {name!r}", f"weight {value!r} is not a number", "give a number >= 0"
            ) from None
        if not math.isfinite(w) or w < 0:
            raise InputError(
                f"{where}, field {name!r}", f"weight {value!r} is negative or not finite", "give a number >= 0"
            )
        out[name] = w
    total = sum(out.values())
    if total <= 0:
        raise InputError(where, "all weights are zero", "give at least one domain a positive weight")
    if normalize:
        out = {d: w / total for d, w in out.items()}
    return out


def mixtures_to_csv(mixtures: list[dict[str, float]], domains: list[str], start_index: int = 1) -> str:
    """The paper's mixture CSV: `index` then `train_<domain>` columns."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["index"] + [TRAIN_PREFIX + d for d in domains])
    for i, m in enumerate(mixtures):
        writer.writerow([start_index + i] + [repr(float(m[d])) for d in domains])
    return buf.getvalue()


def write_mixtures_csv(path, mixtures: list[dict[str, float]], domains: list[str], start_index: int = 1) -> None:
    write_text(path, mixtures_to_csv(mixtures, domains, start_index))


def read_mixtures_csv(path, domains: list[str] | None = None) -> pd.DataFrame:
    """The paper's mixtures CSV as a DataFrame indexed by `index`, one column per domain (no prefix).

    With `domains` (e.g. the fit-time or tokenized domains), the columns must be exactly
    `train_<domain>` in that order. Every weight must be a finite number >= 0, and every row sum to 1.
    """
    df = read_csv(path)
    if "index" not in df.columns:
        raise InputError(
            str(path),
            f"no 'index' column (header: {list(df.columns)})",
            "use the paper's format: index,train_<domain>,...",
        )
    cols = [c for c in df.columns if c != "index"]
    bad = [c for c in cols if not c.startswith(TRAIN_PREFIX)]
    if bad:
        raise InputError(
            f"{path}, column {bad[0]!r}", "mixture columns must be named train_<domain>", "rename the column"
        )
    names = [domain_of(c) for c in cols]
    if domains is not None and names != list(domains):
        raise InputError(
            f"{path}, header",
            f"columns {cols} differ from the expected {[TRAIN_PREFIX + d for d in domains]}",
            "give the mixtures CSV these columns, in the same order",
        )
    df = _unique_index(df, path)
    weights = df[cols].apply(pd.to_numeric, errors="coerce")
    values = weights.to_numpy(dtype=float)
    bad_rows, bad_cols = np.nonzero(~np.isfinite(values) | (values < 0))
    if len(bad_rows):
        i, j = bad_rows[0], bad_cols[0]
        raise InputError(
            f"{path}, column {cols[j]!r}, index {weights.index[i]}",
            f"value {_plain(df[cols[j]].iloc[i])!r} is missing, negative or not a number",
            "give every weight as a number >= 0",
        )
    sums = values.sum(axis=1)
    zero = np.nonzero(sums <= 0)[0]
    if len(zero):
        raise InputError(
            f"{path}, index {weights.index[zero[0]]}",
            "all weights are zero",
            "give at least one domain a positive weight",
        )
    off = np.nonzero(np.abs(sums - 1) > SUM_TOLERANCE)[0]
    if len(off):
        raise InputError(
            f"{path}, index {weights.index[off[0]]}",
            f"weights sum to {sums[off[0]]:.6g}, not 1",
            f"give each row a mixture whose weights sum to 1 (within {SUM_TOLERANCE})",
        )
    weights.columns = names
    return weights


def mixture_rows(weights: pd.DataFrame) -> dict[int, dict[str, float]]:
    """{index: {domain: weight}} from `read_mixtures_csv`'s DataFrame."""
    return {int(i): {d: float(w) for d, w in row.items()} for i, row in weights.iterrows()}


def write_mixture_yaml(path, mixture: dict[str, float], target: str | None = None, **extra) -> None:
    """A mixture in the paper's YAML format (`train:` weights, `valid:` the target domain)."""
    doc = {"train": {TRAIN_PREFIX + d: float(w) for d, w in mixture.items()}}
    if target:
        doc["valid"] = {VALID_PREFIX + target: 1.0}
    doc.update(extra)
    write_yaml(path, doc)


def read_mixture_yaml(path, domains: list[str]) -> dict[str, float]:
    """Read and validate a mixture YAML (paper format; bare `{domain: w}` also accepted)."""
    doc = read_yaml(path)
    if doc is None:
        raise InputError(str(path), "is empty", "write `train: {train_<domain>: weight}`")
    if not isinstance(doc, dict):
        raise InputError(
            str(path), f"expected a mapping, found {type(doc).__name__}", "write `train: {train_<domain>: weight}`"
        )
    weights = doc.get("train", doc)
    if not isinstance(weights, dict):
        raise InputError(
            f"{path}, field 'train'",
            f"expected a mapping, found {weights!r}",
            "write `train: {train_<domain>: weight}`",
        )
    named = {domain_of(k): v for k, v in weights.items()}
    return validate_mixture(named, domains, str(path))


# ---------------------------------------------------------------- losses and curves


def read_losses_csv(path, columns: list[str] | None = None) -> pd.DataFrame:
    """The paper's losses CSV as a DataFrame indexed by `index` (columns `metric/<domain>_val_loss`).

    With `columns`, each must be present and hold a finite number in every row.
    """
    df = read_csv(path)
    if "index" not in df.columns:
        raise InputError(
            str(path),
            f"no 'index' column (header: {list(df.columns)})",
            "use the paper's format: index,metric/<domain>_val_loss,...",
        )
    df = _unique_index(df, path)
    for column in columns or []:
        if column not in df.columns:
            raise InputError(
                f"{path}, column {column!r}", "not in the losses CSV", f"use one of: {', '.join(df.columns)}"
            )
        values = pd.to_numeric(df[column], errors="coerce")
        bad = values[~np.isfinite(values.to_numpy(dtype=float))]
        if len(bad):
            raise InputError(
                f"{path}, column {column!r}, index {bad.index[0]}",
                f"value {_plain(df.loc[bad.index[0], column])!r} is missing or not a finite number",
                "fill in the loss or remove that proxy's row",
            )
        df[column] = values.astype(float)
    return df


def read_training_data(mixtures_csv, losses_csv, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Weights (columns = domains, index = proxy index) and the target loss, joined on `index`."""
    mixtures = read_mixtures_csv(mixtures_csv)
    y = read_losses_csv(losses_csv, [target])[target]
    missing = mixtures.index.difference(y.index)
    if len(missing) == len(mixtures):
        raise InputError(
            f"{mixtures_csv} and {losses_csv}, column 'index'",
            f"no indexes join (mixtures: {_span(mixtures.index)}, losses: {_span(y.index)})",
            "give both CSVs the same proxy indexes",
        )
    if len(missing):
        raise InputError(
            f"{losses_csv}, column 'index'",
            f"{len(missing)} mixture indexes have no loss row, e.g. {list(missing[:5])}",
            "train and collect those proxies, or drop their rows from the mixtures CSV",
        )
    return mixtures, y.loc[mixtures.index].rename(target)


def read_domain_losses(losses_csv, domains: list[str], index) -> np.ndarray:
    """Each proxy's loss on every training domain: rows in the order of `index`, columns of `domains`."""
    columns = [loss_column(d) for d in domains]
    try:
        df = read_losses_csv(losses_csv, columns)
    except InputError as e:
        fix = f"{e.fix}; or drop composite (which learns from every domain's loss) from regression.candidates"
        raise InputError(e.where, e.problem, fix) from None
    return df.loc[index, columns].to_numpy(float)


def _span(idx) -> str:
    return f"{len(idx)} rows, {min(idx)}..{max(idx)}"


def losses_csv(results: dict[int, dict], eval_domains: list[str]) -> str:
    """The paper's losses CSV: `index` then `metric/<domain>_val_loss`, final losses, rows by index."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index"] + [loss_column(d) for d in eval_domains])
    for index in sorted(results):
        final = results[index]["val_loss"][-1][1]
        w.writerow([index] + [repr(final[d]) for d in eval_domains])
    return buf.getvalue()


def curves_csv(results: dict[int, dict], eval_domains: list[str]) -> str:
    """Long-format validation curves: `index,step,<domain>...` (for plots)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "step"] + eval_domains)
    for index in sorted(results):
        for step, losses in results[index]["val_loss"]:
            w.writerow([index, step] + [repr(losses[d]) for d in eval_domains])
    return buf.getvalue()


def merge_csvs(paths: list[Path]) -> str:
    """Concatenate shards' losses or curves CSVs under one header, rows by (index, step); as text, so values "
    "stay byte-for-byte."""
    header, rows = None, []
    for path in paths:
        if not path.is_file():
            raise InputError(str(path), "missing", f"run `dvc repro` for the shard in {path.parent}")
        lines = path.read_text().splitlines()
        if header is not None and lines[0] != header:
            raise InputError(
                str(path),
                f"header {lines[0]!r} differs from the other shards' {header!r}",
                "rerun the shards on the same data",
            )
        header = lines[0]
        rows += lines[1:]
    rows.sort(key=lambda r: [int(x) for x in r.split(",")[:2] if x.isdigit()])
    return "\n".join([header] + rows) + "\n"


# ---------------------------------------------------------------- shared CSV checks


def read_csv(path) -> pd.DataFrame:
    """A UTF-8 CSV with a header row, unique column names and at least one row."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file not found", "check the path")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(
            str(path),
            f"not a readable CSV ({str(e).strip().splitlines()[0]})",
            "write a comma-separated UTF-8 file with a header row",
        ) from None
    if df.empty:
        raise InputError(str(path), "has no rows", "give at least one data row")
    with open(path, encoding="utf-8-sig") as f:
        header = next(csv.reader([f.readline()]))
    repeated = [c for c in header if header.count(c) > 1]
    if repeated:  # pandas would rename the second one (`x.1`) and read on
        raise InputError(f"{path}, column {repeated[0]!r}", "appears more than once", "give every column once")
    return df


def _plain(value):
    """A cell as a Python value, so a message shows `nan`, not `np.float64(nan)`."""
    return value.item() if isinstance(value, np.generic) else value


def _unique_index(df: pd.DataFrame, path) -> pd.DataFrame:
    idx = pd.to_numeric(df["index"], errors="coerce")
    if idx.isna().any() or (idx % 1 != 0).any():
        bad = df["index"][idx.isna() | (idx % 1 != 0)].iloc[0]
        raise InputError(
            f"{path}, column 'index'", f"value {_plain(bad)!r} is not an integer", "number the rows 1, 2, ..."
        )
    dup = idx[idx.duplicated()]
    if len(dup):
        raise InputError(
            f"{path}, column 'index'",
            f"value {int(dup.iloc[0])} appears more than once",
            "give every proxy a unique index",
        )
    return df.set_index(idx.astype(int).rename("index")).drop(columns="index")
