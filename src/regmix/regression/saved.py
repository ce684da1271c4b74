"""A fitted regression model on disk, and `predict` for anyone's mixtures."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config.regression import RegressionConfig
from ..errors import InputError
from ..files import atomic_path, write_json, write_text
from ..formats import TRAIN_PREFIX, domain_of, read_mixtures_csv
from .estimators import make_estimator

MODEL_FILE = "model.pkl"
META_FILE = "model.json"
TRAIN_FILE = "training_data.csv"


@dataclass
class FittedModel:
    """A fitted regression: `predict` takes weights in the fit-time domain order."""

    estimator: object
    domains: list[str]
    target: str
    name: str
    config: dict

    def predict(self, weights) -> np.ndarray:
        """Predicted loss for each row of `weights` (DataFrame with domain or train_<domain> columns, or ndarray)."""
        return np.asarray(self.estimator.predict(self.matrix(weights)), dtype=float)

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
    name: str, X: np.ndarray, y: np.ndarray, domains: list[str], target: str, config: RegressionConfig
) -> FittedModel:
    """Fit candidate `name` on all rows."""
    return FittedModel(make_estimator(name, config).fit(X, y), list(domains), target, name, dataclasses.asdict(config))


def save_model(model: FittedModel, model_dir, X: np.ndarray, y: np.ndarray, index) -> None:
    """Write the pickled model, its metadata and the training rows (for bootstrap refits)."""
    model_dir = Path(model_dir)
    with atomic_path(model_dir / MODEL_FILE) as tmp:
        tmp.write_bytes(pickle.dumps(model, protocol=4))
    write_json(
        model_dir / META_FILE,
        {"name": model.name, "target": model.target, "domains": model.domains, "config": model.config},
    )
    data = pd.DataFrame(X, columns=[TRAIN_PREFIX + d for d in model.domains])
    data.insert(0, "index", list(index))
    data["target"] = y
    write_text(model_dir / TRAIN_FILE, data.to_csv(index=False, float_format="%.17g"))


def load_model(model_dir) -> FittedModel:
    """The model saved by `fit_dir` in `model_dir`."""
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise InputError(str(path), "no fitted model here", "run `regmix fit ... --out DIR` first and pass that DIR")
    with open(path, "rb") as f:
        model = pickle.load(f)
    if not isinstance(model, FittedModel):
        raise InputError(str(path), f"holds a {type(model).__name__}, not a regmix model", "refit with `regmix fit`")
    return model


def load_training_data(model_dir) -> tuple[np.ndarray, np.ndarray]:
    """The rows the model in `model_dir` was fitted on (X, y)."""
    path = Path(model_dir) / TRAIN_FILE
    if not path.is_file():
        raise InputError(str(path), "training data missing", "refit with `regmix fit` (it saves the training rows)")
    df = pd.read_csv(path)
    return df[[c for c in df.columns if c.startswith(TRAIN_PREFIX)]].to_numpy(float), df["target"].to_numpy(float)


def predict_csv(model_dir, mixtures_csv, out_csv) -> None:
    """Write `index,prediction` for each row of the mixtures CSV (columns must match fit time)."""
    model = load_model(model_dir)
    weights = read_mixtures_csv(mixtures_csv, model.domains)
    pred = model.predict(weights.to_numpy(float))
    out = pd.DataFrame({"index": weights.index.to_numpy(), "prediction": pred})
    write_text(out_csv, out.to_csv(index=False, float_format="%.10g"))
