"""The GP behind `gp`: scikit-learn's GaussianProcessRegressor or the hand-written `LogWeightGP`? Measured.

    OPENBLAS_NUM_THREADS=1 python benchmarks/gp_choice.py [--data ../shared/regmix-paper-data] [--folds 10]

Both fit the same model to the paper's 512 proxies (target Pile-CC): features log(w + eps) divided by
each feature's spread on the rows fitted, the loss standardised, kernel ConstantKernel x ARD RBF +
WhiteKernel with the same bounds and start, L-BFGS-B capped at `regression.gp.max_iter` iterations.
Per implementation: CPU and wall seconds to fit on all 512 rows and to predict 100,000 mixtures (in
the same row blocks; the fastest of `--repeat` runs), optimizer iterations, the optimised log
marginal likelihood (and sklearn's value of it at that optimum, to show both optimise the same
objective), and the 10-fold CV Spearman rho (and its seconds). sklearn is also run with its default
optimizer (no iteration cap). Prints a table and writes benchmarks/results/gp_choice.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from regmix.config.regression import GPConfig
from regmix.formats import read_training_data
from regmix.regression.cv import folds_of, spearman
from regmix.regression.estimators import LogWeightGP, gp_features

REPO = Path(__file__).resolve().parents[1]
PILE_CC = "metric/the_pile_pile_cc_val_loss"
BLOCK = 4_000_000  # kernel entries per prediction block, as LogWeightGP.predict uses


def kernel(d: int, ls0: float):
    """LogWeightGP's model as a scikit-learn kernel: the same bounds and starting point."""
    return ConstantKernel(1.0, (1e-2, 1e2)) * RBF(np.full(d, ls0), (0.1, 1e3)) + WhiteKernel(1e-2, (1e-6, 1.0))


class SklearnGP:
    """scikit-learn's GPR on LogWeightGP's features and standardised targets."""

    def __init__(self, gp: GPConfig, capped: bool):
        self.gp, self.capped = gp, capped

    def _optimizer(self, obj_func, initial_theta, bounds):
        res = minimize(
            obj_func, initial_theta, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": self.gp.max_iter}
        )
        self.n_iter_ = int(res.nit)
        return res.x, res.fun

    def fit(self, X, y):
        raw = gp_features(X, "log", self.gp.eps)
        self.scale_ = np.where(raw.std(axis=0) > 0, raw.std(axis=0), 1.0)
        self.y_mean_, self.y_std_ = y.mean(), y.std()
        self.n_iter_ = None  # sklearn's default optimizer does not report it
        d = X.shape[1]
        self.gpr_ = GaussianProcessRegressor(
            kernel(d, self.gp.length_scale * np.sqrt(d)),
            alpha=0.0,  # LogWeightGP adds no jitter beyond its white-noise term
            optimizer=self._optimizer if self.capped else "fmin_l_bfgs_b",
        ).fit(raw / self.scale_, (y - self.y_mean_) / self.y_std_)
        self.log_marginal_likelihood_value_ = float(self.gpr_.log_marginal_likelihood_value_)
        return self

    def predict(self, X):
        Z = gp_features(X, "log", self.gp.eps) / self.scale_
        out = np.empty(len(Z))
        step = max(1, BLOCK // len(self.gpr_.X_train_))
        for s in range(0, len(Z), step):
            out[s : s + step] = self.gpr_.predict(Z[s : s + step])
        return out * self.y_std_ + self.y_mean_


def hand_written_theta(gp: LogWeightGP) -> np.ndarray:
    """LogWeightGP's optimum in sklearn's parameter order: log signal, log length scales (scaled units), log noise."""
    return np.log(np.r_[gp.signal_, gp.length_scales_ / gp.scale_, gp.noise_])


def sklearn_lml_at(theta: np.ndarray, X, y, gp: GPConfig) -> float:
    """sklearn's log marginal likelihood of the standardised problem at `theta`."""
    raw = gp_features(X, "log", gp.eps)
    Z = raw / np.where(raw.std(axis=0) > 0, raw.std(axis=0), 1.0)
    d = X.shape[1]
    fixed = GaussianProcessRegressor(kernel(d, gp.length_scale * np.sqrt(d)), alpha=0.0, optimizer=None)
    return float(fixed.fit(Z, (y - y.mean()) / y.std()).log_marginal_likelihood(theta))


def timed(f, *a, repeat: int = 1):
    """f(*a), and its fastest wall and CPU (this process) seconds over `repeat` calls.

    On a shared machine wall time grows with the others' load; with one BLAS thread the CPU time
    of this process is what the computation itself costs.
    """
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = f(*a)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return out, round(min(wall), 2), round(min(cpu), 2)


def fit_new(make, X, y):
    return make().fit(X, y)


def cv_rho(make, X, y, folds) -> float:
    pred = np.zeros(len(y))
    for train, test in folds:
        pred[test] = make().fit(X[train], y[train]).predict(X[test])
    return spearman(pred, y)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "regmix-paper-data"))
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--n-predict", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3, help="fit and predict timings: the fastest of this many runs")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "gp_choice.json"))
    args = p.parse_args()
    # sklearn warns when a length scale reaches its bound (an irrelevant domain); LogWeightGP does so silently.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    data = Path(args.data)
    if not (data / "train_mixture_1m.csv").is_file():
        raise SystemExit(f"paper data not found in {data}: pass --data DIR holding train_mixture_1m.csv")
    weights, y_series = read_training_data(data / "train_mixture_1m.csv", data / "train_pile_loss_1m.csv", PILE_CC)
    X, y = weights.to_numpy(float), y_series.to_numpy(float)
    gp = GPConfig()
    new = np.random.default_rng(0).dirichlet(np.ones(X.shape[1]), args.n_predict)
    folds = folds_of(len(y), args.folds, 0)
    implementations = {
        "LogWeightGP (hand-written)": lambda: LogWeightGP("log", gp.eps, gp.ard, gp.length_scale, gp.max_iter),
        f"sklearn GPR (maxiter {gp.max_iter})": lambda: SklearnGP(gp, capped=True),
        "sklearn GPR (default optimizer)": lambda: SklearnGP(gp, capped=False),
    }
    load_before = os.getloadavg()[0]
    rows, preds = [], []
    for name, make in implementations.items():
        model, fit_s, fit_cpu = timed(fit_new, make, X, y, repeat=args.repeat)
        pred, predict_s, predict_cpu = timed(model.predict, new, repeat=args.repeat)
        preds.append(pred)
        rho, cv_s, cv_cpu = timed(cv_rho, make, X, y, folds)
        theta = hand_written_theta(model) if isinstance(model, LogWeightGP) else model.gpr_.kernel_.theta
        rows.append(
            {
                "implementation": name,
                "fit_cpu_s": fit_cpu,
                "fit_wall_s": fit_s,
                "iterations": model.n_iter_,
                f"predict_{args.n_predict}_cpu_s": predict_cpu,
                f"predict_{args.n_predict}_wall_s": predict_s,
                "log_marginal_likelihood": round(model.log_marginal_likelihood_value_, 4),
                "sklearn_lml_at_its_optimum": round(sklearn_lml_at(theta, X, y, gp), 4),
                f"cv{args.folds}_spearman": round(rho, 5),
                f"cv{args.folds}_cpu_s": cv_cpu,
                f"cv{args.folds}_wall_s": cv_s,
            }
        )
        print(rows[-1], flush=True)
    result = {
        "data": f"paper's 512 proxies, target {PILE_CC}",
        "features": f"log(w + {gp.eps}) / spread, loss standardised",
        "kernel": "ConstantKernel(1, (1e-2, 1e2)) * RBF(ARD, start sqrt(d), (0.1, 1e3)) + WhiteKernel(1e-2, (1e-6, 1))",
        "rows": rows,
        "max_abs_prediction_difference_from_hand_written": {
            name: float(np.max(np.abs(p - preds[0]))) for name, p in zip(implementations, preds, strict=True)
        },
        "timing": {
            "repeat": args.repeat,
            "threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset (OpenBLAS default)"),
            "cpu_count": os.cpu_count(),
            "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__}
        | {"sklearn": sklearn.__version__},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
