"""A fitted estimator as plain data and back, with no pickle anywhere.

`regmix predict/simulate --model DIR` is offered for models anyone may send, and unpickling a file runs
whatever code its author chose. So a fitted estimator is saved as data only:

- linear, log-linear and GP estimators: their fitted parameters as JSON numbers (Python's `json`
  writes the shortest repr of each float, which reads back to the same bits);
- LightGBM: the booster's own text model (`model_to_string`), one `<name>.txt` file;
- the ensemble: its members, each as above; the composite: its domain weights and intercept, and per
  domain its members (none where the weight is 0).

Loading rebuilds the estimator with `make_estimator` from the saved config and sets its fitted
parameters, so a loaded model predicts bit for bit what the fitted one did. Every value is checked
first. LightGBM's C++ text parser trusts its input (a truncated model makes it read past the end
of the buffer and abort the process), so a LightGBM text model is parsed and checked here, header,
tree sizes, numbers and tree structure, and only then handed to LightGBM.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..config.regression import RegressionConfig
from ..errors import InputError
from .estimators import make_estimator

LIGHTGBM = ("lightgbm", "lightgbm_reg")
REFIT = "refit with `regmix fit ... --out DIR` (models are written only by it)"

# The fitted attributes that `predict` uses, per candidate, with their shapes ("d": domains, "n": training rows).
_GP = {
    "scale_": ("d",),
    "length_scales_": ("d",),
    "Z_": ("n", "d"),
    "alpha_": ("n",),
    "signal_": (),
    "noise_": (),
    "y_mean_": (),
    "y_std_": (),
}
FITTED = {
    "linear": {"coef_": ("d",), "intercept_": ()},
    "loglinear": {"params_": ("d+2",)},
    "gp": _GP,
    "gp_sqrt": _GP,
}


def lightgbm_file(name: str) -> str:
    """The text model's file name: candidate names are unique within a model (ensembles do not nest)."""
    return f"{name}.txt"


def to_plain(name: str, estimator, config: RegressionConfig) -> tuple[dict, dict[str, str]]:
    """(JSON-able fitted parameters, {file name: LightGBM text model}) of a fitted candidate `name`."""
    if name == "ensemble":
        members, texts = {}, {}
        for member, fitted in zip(config.ensemble_members, estimator.fitted_, strict=True):
            members[member], more = to_plain(member, fitted, config)
            texts.update(more)
        return {"members": members}, texts
    if name == "composite":
        per_domain = [
            {m: to_plain(m, fitted, config)[0] for m, fitted in zip(config.composite_members, models, strict=True)}
            if models
            else {}  # a domain of weight 0 has no models
            for models in estimator.fitted_
        ]
        return {"coef_": estimator.coef_.tolist(), "intercept_": estimator.intercept_, "domains": per_domain}, {}
    if name in LIGHTGBM:
        return {}, {lightgbm_file(name): estimator.booster_.model_to_string()}
    return {attr: np.asarray(getattr(estimator, attr), dtype=float).tolist() for attr in FITTED[name]}, {}


def from_plain(name: str, params, folder: Path, config: RegressionConfig, n_features: int, where: str):
    """The fitted candidate `name` from `to_plain`'s parameters (LightGBM text models read from `folder`).

    A LightGBM candidate comes back as a `lightgbm.Booster` (its `predict` is the fitted regressor's).
    """
    if not isinstance(params, dict):
        raise InputError(where, f"is a {type(params).__name__}, not a mapping of fitted parameters", REFIT)
    if name in LIGHTGBM:
        import lightgbm as lgb

        if params:
            raise InputError(
                where, f"fields {sorted(params)} for a LightGBM model, whose trees are in its text file", REFIT
            )
        path = folder / lightgbm_file(name)
        if not path.is_file():
            raise InputError(str(path), f"missing (the {name} model's LightGBM text)", REFIT)
        text = path.read_bytes().decode("ascii", errors="replace")
        return lgb.Booster(model_str=checked_lightgbm_text(text, n_features, str(path)))
    if name == "ensemble":
        members = params.get("members")
        if not isinstance(members, dict) or list(members) != list(config.ensemble_members):
            shown = list(members) if isinstance(members, dict) else members
            raise InputError(
                f"{where}.members", f"members {shown!r} differ from config {config.ensemble_members}", REFIT
            )
        estimator = make_estimator(name, config)
        estimator.fitted_ = [
            from_plain(m, members[m], folder, config, n_features, f"{where}.members.{m}") for m in members
        ]
        return estimator
    if name == "composite":
        return _composite(params, folder, config, n_features, where)
    expected = FITTED[name]
    if set(params) != set(expected):
        raise InputError(where, f"fields {sorted(params)} are not the {name} model's {sorted(expected)}", REFIT)
    estimator = make_estimator(name, config)
    sizes = {"d": n_features, "d+2": n_features + 2}
    for attr, shape in expected.items():
        value = _float_array(params[attr], shape, sizes, f"{where}.{attr}")
        setattr(estimator, attr, value if shape else float(value))
    if name == "linear":
        estimator.n_features_in_ = n_features  # scikit-learn checks the width of X against it
    return estimator


def _composite(params: dict, folder: Path, config: RegressionConfig, n_features: int, where: str):
    """The composite from its plain parameters: weights >= 0, an intercept, and per domain with a weight its members."""
    if set(params) != {"coef_", "intercept_", "domains"}:
        raise InputError(
            where, f"fields {sorted(params)} are not the composite's ['coef_', 'domains', 'intercept_']", REFIT
        )
    estimator = make_estimator("composite", config)
    estimator.coef_ = _float_array(params["coef_"], ("d",), {"d": n_features}, f"{where}.coef_")
    estimator.intercept_ = float(_float_array(params["intercept_"], (), {}, f"{where}.intercept_"))
    if np.any(estimator.coef_ < 0):
        raise InputError(f"{where}.coef_", "has negative domain weights (the fit keeps them >= 0)", REFIT)
    per_domain = params["domains"]
    if not isinstance(per_domain, list) or len(per_domain) != n_features:
        raise InputError(f"{where}.domains", f"is not a list of {n_features} domains' members", REFIT)
    estimator.fitted_ = []
    for j, (s, members) in enumerate(zip(estimator.coef_, per_domain, strict=True)):
        want = list(config.composite_members) if s > 0 else []
        if not isinstance(members, dict) or list(members) != want:
            shown = list(members) if isinstance(members, dict) else members
            raise InputError(f"{where}.domains[{j}]", f"members {shown!r}, expected {want} (weight {s:g})", REFIT)
        estimator.fitted_.append(
            [from_plain(m, members[m], folder, config, n_features, f"{where}.domains[{j}].{m}") for m in members]
        )
    return estimator


def _float_array(value, shape: tuple[str, ...], sizes: dict[str, int], where: str) -> np.ndarray:
    """`value` (nested JSON lists of numbers) as a finite float array of `shape`; binds "n" on first use."""
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged lists
        arr = np.asarray(None)
    if arr.dtype.kind not in "fi":
        raise InputError(where, f"is not an array of numbers (found {str(value)[:60]!r})", REFIT)
    for axis, size in zip(shape, arr.shape, strict=False):
        sizes.setdefault(axis, size)
    want = tuple(sizes.get(axis, -1) for axis in shape)
    if arr.shape != want or (shape and 0 in want):
        raise InputError(where, f"has shape {arr.shape}, expected {want} ({', '.join(shape) or 'a number'})", REFIT)
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise InputError(where, "contains NaN or infinite values", REFIT)
    return arr


# ---------------------------------------------------------------- LightGBM text models

_INT = re.compile(r"-?\d{1,10}")
_FLOAT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_INFO = re.compile(rf"none|\[{_FLOAT.pattern}:{_FLOAT.pattern}\]")
_NAME = re.compile(r"[A-Za-z0-9_]+")
_HEADER_FIXED = {
    "version": "v4",
    "num_class": "1",
    "num_tree_per_iteration": "1",
    "label_index": "0",
    "objective": "regression",
}
_HEADER = (*_HEADER_FIXED, "max_feature_idx", "feature_names", "feature_infos", "tree_sizes")
# Per tree: arrays over internal nodes (num_leaves - 1) and over leaves (num_leaves), and their number kind.
_NODE_ARRAYS = {
    "split_feature": _INT,
    "split_gain": _FLOAT,
    "threshold": _FLOAT,
    "decision_type": _INT,
    "left_child": _INT,
    "right_child": _INT,
    "internal_value": _FLOAT,
    "internal_weight": _FLOAT,
    "internal_count": _INT,
}
_LEAF_ARRAYS = {"leaf_value": _FLOAT, "leaf_weight": _FLOAT, "leaf_count": _INT}
_TREE_KEYS = {"num_leaves", "num_cat", "is_linear", "shrinkage", *_NODE_ARRAYS, *_LEAF_ARRAYS}


def checked_lightgbm_text(text: str, n_features: int, where: str) -> str:
    """The part of a LightGBM text model that LightGBM parses (header and trees), after checking all of it.

    Accepts what LightGBM writes for a single-output regression on `n_features` numeric features:
    every line `key=value` with known keys, tree sizes that match the trees, numbers where numbers
    belong, array lengths that match `num_leaves`, split features in range, no categorical or
    linear trees, and children that form a tree (each node and leaf reached once, children after
    their parent, so no cycles). The tail (feature importances, parameters) is dropped: prediction
    does not read it.
    """

    def bad(problem: str) -> InputError:
        return InputError(where, f"{problem}: not a LightGBM regression model as `regmix fit` writes it", REFIT)

    if not text.isascii() or "\r" in text:
        raise bad("non-ASCII bytes or carriage returns")
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    if lines[0] != "tree":
        raise bad(f"first line {lines[0][:40]!r} is not 'tree'")
    header = _key_values(lines[1:], set(_HEADER), bad)
    missing = [k for k in _HEADER if k not in header]
    if missing:
        raise bad(f"header lacks {missing}")
    for key, value in _HEADER_FIXED.items():
        if header[key] != value:
            raise bad(f"header {key}={header[key][:40]!r}, expected {value!r}")
    if header["max_feature_idx"] != str(n_features - 1):
        raise bad(f"max_feature_idx={header['max_feature_idx'][:20]!r} but the model has {n_features} domains")
    for key, pattern in (("feature_names", _NAME), ("feature_infos", _INFO)):
        values = header[key].split(" ")
        if len(values) != n_features or not all(pattern.fullmatch(v) for v in values):
            raise bad(f"{key} are not {n_features} well-formed entries")
    sizes = _numbers(header["tree_sizes"], _INT, "tree_sizes", bad)
    if not sizes or min(sizes) <= 0:
        raise bad("tree_sizes is empty or not positive")
    pos = 0
    for i, size in enumerate(sizes):
        block = body[pos : pos + size]
        first = f"Tree={i}\n"
        if len(block) != size or not block.startswith(first) or not block.endswith("\n\n\n"):
            raise bad(f"tree {i} does not match tree_sizes (truncated or edited?)")
        _check_tree(block[len(first) : -3].split("\n"), n_features, f"tree {i}", bad)
        pos += size
    if not body[pos:].startswith("end of trees\n"):
        raise bad("'end of trees' does not follow the last tree")
    return f"{head}\n\n{body[:pos]}end of trees\n"


def _key_values(lines: list[str], allowed: set[str], bad) -> dict[str, str]:
    out = {}
    for line in lines:
        key, eq, value = line.partition("=")
        if not eq or "=" in value or key not in allowed or key in out:
            raise bad(f"line {line[:40]!r} is not a known, single `key=value`")
        out[key] = value
    return out


def _numbers(value: str, pattern: re.Pattern, what: str, bad) -> list:
    """Space-separated numbers; ints within int32 and floats finite, as LightGBM's parser assumes."""
    tokens = value.split(" ") if value else []
    if not all(pattern.fullmatch(t) for t in tokens):
        raise bad(f"{what} holds something other than numbers")
    numbers = [int(t) for t in tokens] if pattern is _INT else [float(t) for t in tokens]
    if not all(abs(v) < 2**31 if pattern is _INT else np.isfinite(v) for v in numbers):
        raise bad(f"{what} holds a number out of range")
    return numbers


def _check_tree(lines: list[str], n_features: int, what: str, bad) -> None:
    tree = _key_values(lines, _TREE_KEYS, bad)
    for key in ("num_leaves", "num_cat", "leaf_value"):
        if key not in tree:
            raise bad(f"{what} lacks {key}")
    leaves = _numbers(tree["num_leaves"], _INT, f"{what} num_leaves", bad)
    if len(leaves) != 1 or not 1 <= leaves[0] <= 1 << 17:
        raise bad(f"{what} num_leaves={tree['num_leaves'][:20]!r}")
    n = leaves[0]
    if tree["num_cat"] != "0" or tree.get("is_linear", "0") != "0":
        raise bad(f"{what} has categorical or linear leaves")
    _numbers(tree.get("shrinkage", "1"), _FLOAT, f"{what} shrinkage", bad)
    arrays = {}
    for key, pattern in (*_NODE_ARRAYS.items(), *_LEAF_ARRAYS.items()):
        if key not in tree:
            continue
        arrays[key] = _numbers(tree[key], pattern, f"{what} {key}", bad)
        want = n - 1 if key in _NODE_ARRAYS else n
        # A one-leaf tree writes its node arrays (and leaf_weight) empty; LightGBM reads only leaf_value then.
        if len(arrays[key]) != want and not (n == 1 and key != "leaf_value" and not arrays[key]):
            raise bad(f"{what} {key} has {len(arrays[key])} values, expected {want}")
    if n > 1:
        _check_splits(arrays, n, n_features, what, bad)


def _check_splits(arrays: dict[str, list], n: int, n_features: int, what: str, bad) -> None:
    """Split features in range, numerical splits only, and children that form a tree of `n` leaves."""
    for key in ("split_feature", "threshold", "left_child", "right_child"):
        if key not in arrays:
            raise bad(f"{what} lacks {key}")
    if not all(0 <= f < n_features for f in arrays["split_feature"]):
        raise bad(f"{what} splits on a feature outside 0..{n_features - 1}")
    # decision_type bits: 1 categorical (refused), 2 default left, 4 and 8 the missing-value type (0, 1 or 2).
    if not all(0 <= t < 16 and t & 1 == 0 and t >> 2 != 3 for t in arrays.get("decision_type", [])):
        raise bad(f"{what} decision_type is not a numerical split")
    seen_nodes, seen_leaves = [0] * (n - 1), [0] * n
    for node, children in enumerate(zip(arrays["left_child"], arrays["right_child"], strict=True)):
        for child in children:
            if node < child <= n - 2:
                seen_nodes[child] += 1
            elif -n <= child < 0:
                seen_leaves[~child] += 1
            else:
                raise bad(f"{what} node {node} has child {child} (not a later node or a leaf)")
    if seen_nodes[1:] != [1] * (n - 2) or seen_leaves != [1] * n:
        raise bad(f"{what} children do not form a tree")
