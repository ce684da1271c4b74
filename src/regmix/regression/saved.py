"""A fitted regression model on disk, as plain data, and `predict` for anyone's mixtures.

A model directory (`regmix fit --out DIR`) holds `DIR/model/` (written atomically as one folder):
`model.json` (format, model name, target, domains, the regression config and the fitted parameters)
and one LightGBM text model per LightGBM estimator (see `model_file`), plus `DIR/training_data.csv`,
the rows it was fitted on (for the simulation's bootstrap refits; for the composite, with every
training domain's loss). Nothing is unpickled on load.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config.params import build
from ..config.regression import MODEL_NAMES, RegressionConfig
from ..errors import InputError
from ..files import atomic_path, write_text
from ..formats import TRAIN_PREFIX, domain_of, loss_column, read_mixtures_csv
from .estimators import fit_estimator
from .model_file import REFIT, from_plain, to_plain

MODEL_DIR = "model"
MODEL_JSON = "model.json"
TRAIN_FILE = "training_data.csv"
FORMAT = {"format": "regmix-regression-model", "version": 2}
OLD_FILES = ("model.pkl", "model.json")  # version 1: a pickle and its metadata, beside the fit report


@dataclass
class FittedModel:
    """A fitted regression: `predict` takes weights in the fit-time domain order."""

    estimator: object
    domains: list[str]
    target: str
    name: str
    config: RegressionConfig

    def predict(self, weights) -> np.ndarray:
        """Predicted loss for each row of `weights` (DataFrame with domain or train_<domain> columns, or ndarray)."""
        return np.asarray(self.estimator.predict(self.matrix(weights)), dtype=float)

    def refit(self, X: np.ndarray, y: np.ndarray, domain_losses=None):
        """A new estimator of the same candidate and config fitted on these rows (resampled ones, say)."""
        return fit_estimator(self.name, self.config, X, y, domain_losses)

    def matrix(self, weights, where: str = "weights") -> np.ndarray:
        """`weights` as a float matrix in fit-time order, checked."""
        if isinstance(weights, pd.DataFrame):
            cols = [domain_of(c) for c in weights.columns if c != "index"]
            if cols != self.domains:
                raise InputError(
                    f"{where}, columns",
                    f"domains {cols} differ from those seen at fit time {self.domains}",
                    "give the fit-time domains, in the same order",
                )
            X = weights[[c for c in weights.columns if c != "index"]].to_numpy(dtype=float)
        else:
            X = np.asarray(weights, dtype=float)
            if X.ndim == 1:
                X = X[None, :]
            if X.ndim != 2 or X.shape[1] != len(self.domains):
                raise InputError(
                    f"{where}, shape",
                    f"shape {X.shape} does not have {len(self.domains)} columns (domains {self.domains})",
                    "give one column per fit-time domain",
                )
        if not np.all(np.isfinite(X)):
            raise InputError(where, "contains NaN or infinite weights", "give finite weights")
        return X


def fit_model(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    domains: list[str],
    target: str,
    config: RegressionConfig,
    domain_losses=None,
) -> FittedModel:
    """Fit candidate `name` on all rows (the composite also on each row's `domain_losses`)."""
    return FittedModel(fit_estimator(name, config, X, y, domain_losses), list(domains), target, name, config)


def save_model(model: FittedModel, model_dir, X: np.ndarray, y: np.ndarray, index, domain_losses=None) -> None:
    """Write the model as plain data under `model_dir/model/`, and the training rows (for bootstrap refits),
    with each row's `domain_losses` (`metric/<domain>_val_loss` columns) where given.

    A version-1 model (`model.pkl`) left in `model_dir` by an older regmix is removed, so the directory
    holds one model.
    """
    model_dir = Path(model_dir)
    params, texts = to_plain(model.name, model.estimator, model.config)
    doc = {
        **FORMAT,
        "name": model.name,
        "target": model.target,
        "domains": model.domains,
        "config": dataclasses.asdict(model.config),
        "estimator": params,
    }
    with atomic_path(model_dir / MODEL_DIR) as tmp:
        tmp.mkdir()
        (tmp / MODEL_JSON).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        for file_name, text in texts.items():
            (tmp / file_name).write_text(text, encoding="ascii")
    if (model_dir / OLD_FILES[0]).is_file():
        for old in OLD_FILES:
            (model_dir / old).unlink(missing_ok=True)
    data = pd.DataFrame(X, columns=[TRAIN_PREFIX + d for d in model.domains])
    data.insert(0, "index", list(index))
    data["target"] = y
    if domain_losses is not None:
        for d, column in zip(model.domains, np.asarray(domain_losses, float).T, strict=True):
            data[loss_column(d)] = column
    write_text(model_dir / TRAIN_FILE, data.to_csv(index=False, float_format="%.17g"))


def load_model(model_dir) -> FittedModel:
    """The model saved by `fit_dir` in `model_dir`, read as data only (never unpickled), every field checked."""
    model_dir = Path(model_dir)
    folder = model_dir / MODEL_DIR
    path = folder / MODEL_JSON
    if not path.is_file():
        if (model_dir / OLD_FILES[0]).is_file():
            raise InputError(
                str(model_dir / OLD_FILES[0]),
                "a model in the old pickle format, which regmix no longer loads (unpickling a file runs any code "
                "its author put in it)",
                REFIT,
            )
        raise InputError(str(path), "no fitted model here", "run `regmix fit ... --out DIR` first and pass that DIR")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(str(path), f"not valid JSON ({e})", REFIT) from None
    if not isinstance(doc, dict) or {k: doc.get(k) for k in FORMAT} != FORMAT:
        found = {k: doc.get(k) for k in FORMAT} if isinstance(doc, dict) else type(doc).__name__
        raise InputError(str(path), f"not a regmix model of format {FORMAT} (found {found})", REFIT)
    name, target, domains = doc.get("name"), doc.get("target"), doc.get("domains")
    if name not in MODEL_NAMES:
        raise InputError(f"{path}, field name", f"value {name!r} is not one of {MODEL_NAMES}", REFIT)
    if not isinstance(target, str):
        raise InputError(f"{path}, field target", f"value {target!r} is not a loss column name", REFIT)
    if (
        not isinstance(domains, list)
        or not domains
        or not all(isinstance(d, str) for d in domains)
        or len(set(domains)) != len(domains)
    ):
        raise InputError(f"{path}, field domains", f"value {domains!r} is not a list of distinct domain names", REFIT)
    config = _config(doc.get("config"), f"{path}, field config")
    estimator = from_plain(name, doc.get("estimator"), folder, config, len(domains), f"{path}, field estimator")
    return FittedModel(estimator, domains, target, name, config)


def _config(data, where: str) -> RegressionConfig:
    if not isinstance(data, dict):
        raise InputError(where, f"is a {type(data).__name__}, not a mapping", REFIT)
    try:
        config = build(RegressionConfig, data, "regression", where)
    except InputError as e:
        raise InputError(where, f"{e.where.split('field ')[-1]}: {e.problem}", REFIT) from None
    for name in ("lightgbm", "lightgbm_reg", "gp", "significance"):  # sub-configs are built only from mappings
        if not dataclasses.is_dataclass(getattr(config, name)):
            raise InputError(f"{where}.{name}", f"value {getattr(config, name)!r} is not a mapping", REFIT)
    return config


def load_training_data(model_dir, domains: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The rows the model in `model_dir` was fitted on, checked: X in the order of `domains`, y, and each
    row's domain losses in the same order (None where they were not saved)."""
    path = Path(model_dir) / TRAIN_FILE
    if not path.is_file():
        raise InputError(str(path), "training data missing", "refit with `regmix fit` (it saves the training rows)")
    df = pd.read_csv(path)
    columns, losses = [TRAIN_PREFIX + d for d in domains], [loss_column(d) for d in domains]
    if list(df.columns) not in (["index", *columns, "target"], ["index", *columns, "target", *losses]):
        raise InputError(
            f"{path}, header",
            f"columns {list(df.columns)} are not index, the model's domains {columns}, target and optionally "
            f"their losses {losses}",
            "refit with `regmix fit`",
        )
    has_losses = losses[0] in df.columns
    try:
        X, y = df[columns].to_numpy(float), df["target"].to_numpy(float)
        D = df[losses].to_numpy(float) if has_losses else np.zeros(0)
    except ValueError:
        X = y = D = np.array([np.nan])
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y)) and np.all(np.isfinite(D))):
        raise InputError(str(path), "holds values that are not finite numbers", "refit with `regmix fit`")
    return X, y, (D if has_losses else None)


def predict_csv(model_dir, mixtures_csv, out_csv) -> None:
    """Write `index,prediction` for each row of the mixtures CSV (columns must match fit time)."""
    model = load_model(model_dir)
    weights = read_mixtures_csv(mixtures_csv, model.domains)
    pred = model.predict(weights.to_numpy(float))
    out = pd.DataFrame({"index": weights.index.to_numpy(), "prediction": pred})
    write_text(out_csv, out.to_csv(index=False, float_format="%.10g"))
