"""RegMix's regression candidates, scikit-learn shaped (`fit`/`predict`, no hidden state), so they can be
cloned and refitted per fold and per bootstrap resample:

- `linear`: ordinary least squares on the weights (the paper's linear baseline).
- `lightgbm`: the paper's LightGBM (1000 rounds, learning rate 0.01), never early-stopped;
  `lightgbm_reg`: a more regularised one (8 leaves, row and feature subsampling, 600 rounds at 0.025).
- `loglinear`: the Data Mixing Laws / Olmix law L(w) = c + exp(b + t . w), least squares.
- `gp`: a Gaussian process on log(w + eps) (ARD RBF + white noise, hyper-parameters by marginal
  likelihood); `gp_sqrt`: the same on sqrt(w).
- `ensemble`: the mean of its members' predictions.
- `composite`: the target's loss as a non-negative combination of the training domains' losses, each
  predicted from the weights (Data Mixing Laws' implicit domain aggregation, Ye et al. 2024); it also
  learns from every domain's loss, not only the target's, so it needs them at fit time (`fit_estimator`).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import least_squares, minimize, nnls
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import LinearRegression

from ..config.regression import MODEL_NAMES, RegressionConfig
from ..errors import InputError

_WHERE = "params.yaml, field regression."


def log_features(w: np.ndarray, eps: float) -> np.ndarray:
    """log(w + eps): mixing laws are smooth (near-linear) in log-weights, not in weights."""
    return np.log(np.asarray(w, dtype=float) + eps)


class LogLinearLaw(RegressorMixin, BaseEstimator):
    """Data Mixing Laws (Ye et al. 2024) / Olmix: L(w) = c + exp(b + t . w), by least squares."""

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        floor = y.min() - 0.5 * max(y.std(), 1e-6)  # start c below every loss so exp() fits the excess
        p0 = np.r_[floor, np.log(max(y.mean() - floor, 1e-6)), np.zeros(X.shape[1])]

        def residuals(p):
            return p[0] + np.exp(np.clip(p[1] + X @ p[2:], -50, 50)) - y

        self.params_ = least_squares(residuals, p0, method="trf", max_nfev=2000).x
        return self

    def predict(self, X):
        p = self.params_
        return p[0] + np.exp(np.clip(p[1] + np.asarray(X, float) @ p[2:], -50, 50))


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def gp_features(w: np.ndarray, transform: str, eps: float) -> np.ndarray:
    """The GP's inputs: log(w + eps) (mixing laws are smooth in log-weights) or sqrt(w)."""
    w = np.asarray(w, dtype=float)
    return log_features(w, eps) if transform == "log" else np.sqrt(w)


class LogWeightGP(RegressorMixin, BaseEstimator):
    """A Gaussian process on transformed weights: signal x RBF (one length scale per domain with
    `ard`) plus white noise, hyper-parameters by maximum marginal likelihood (L-BFGS-B, analytic
    gradient); `n_iter_` and `log_marginal_likelihood_value_` (of the standardised loss) after `fit`.

    Written out rather than wrapping scikit-learn's GaussianProcessRegressor: with the same kernel
    (ConstantKernel x ARD RBF + WhiteKernel), bounds, start and iteration cap, on the paper's 512
    proxies (Pile-CC), both reach the same optimum (log marginal likelihood 227.1327 in 44
    iterations, predictions equal to 3e-11, 10-fold CV Spearman rho 0.99047), but sklearn costs 3.1x
    the CPU time to fit (4.52 s against 1.47 s), 1.5x to predict 100,000 mixtures (1.26 s against
    0.82 s) and 5.9x for the 10 CV fits (49.0 s against 8.3 s); one BLAS thread,
    `benchmarks/gp_choice.py` (results/gp_choice.json). Its generic kernel gradient builds an
    n x n x (d + 2) tensor; this one is a few n x n x d matrix products.
    """

    def __init__(
        self,
        transform: str = "log",
        eps: float = 0.001,
        ard: bool = True,
        length_scale: float = 1.0,
        max_iter: int = 200,
    ):
        self.transform, self.eps, self.ard, self.length_scale, self.max_iter = (
            transform,
            eps,
            ard,
            length_scale,
            max_iter,
        )

    def _neg_lml(self, theta: np.ndarray, Z: np.ndarray, y: np.ndarray):
        """Negative log marginal likelihood and its gradient in log-parameters."""
        n, d = Z.shape
        signal, noise = np.exp(theta[0]), np.exp(theta[-1])
        Zs = Z / (np.exp(theta[1:-1]) if self.ard else np.exp(theta[1]))
        Kf = signal * np.exp(-0.5 * _sqdist(Zs, Zs))
        try:
            chol = cho_factor(Kf + noise * np.eye(n), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)
        alpha = cho_solve(chol, y, check_finite=False)
        nll = 0.5 * y @ alpha + np.log(np.diag(chol[0])).sum() + 0.5 * n * np.log(2 * np.pi)
        W = np.outer(alpha, alpha) - cho_solve(chol, np.eye(n), check_finite=False)
        M = W * Kf
        # d lml / d log(ls_k) = 0.5 sum_ij M_ij (z_ik - z_jk)^2 / ls_k^2, expanded as matrix products.
        g_ls = M.sum(1) @ Zs**2 - (Zs * (M @ Zs)).sum(0)
        grad = np.r_[0.5 * M.sum(), g_ls if self.ard else g_ls.sum(), 0.5 * noise * np.trace(W)]
        return nll, -grad

    def fit(self, X, y):
        raw = gp_features(X, self.transform, self.eps)
        # Length scales are in units of each feature's spread; starting at sqrt(d) spreads makes the
        # typical scaled distance between two mixtures about 1, away from the two degenerate optima
        # (everything noise; everything constant).
        self.scale_ = np.where(raw.std(axis=0) > 0, raw.std(axis=0), 1.0)
        Z = raw / self.scale_
        y = np.asarray(y, dtype=float)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std()) or 1.0
        yn = (y - self.y_mean_) / self.y_std_
        d = Z.shape[1]
        k = d if self.ard else 1
        theta0 = np.r_[0.0, np.full(k, np.log(self.length_scale * np.sqrt(d))), np.log(1e-2)]
        bounds = [(np.log(1e-2), np.log(1e2))] + [(np.log(0.1), np.log(1e3))] * k + [(np.log(1e-6), np.log(1.0))]
        res = minimize(
            self._neg_lml,
            theta0,
            args=(Z, yn),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": self.max_iter},
        )
        theta, self.n_iter_, self.log_marginal_likelihood_value_ = res.x, int(res.nit), -float(res.fun)
        self.signal_, self.noise_ = float(np.exp(theta[0])), float(np.exp(theta[-1]))
        self.length_scales_ = self.scale_ * (np.exp(theta[1:-1]) if self.ard else np.exp(theta[1]))
        # C order, as a saved-then-loaded model has it: BLAS sums in an order that depends on the layout, so
        # only the same layout gives bit-identical predictions.
        self.Z_ = np.ascontiguousarray(raw / self.length_scales_)
        K = self.signal_ * np.exp(-0.5 * _sqdist(self.Z_, self.Z_)) + self.noise_ * np.eye(len(yn))
        self.alpha_ = cho_solve(cho_factor(K, lower=True), yn)
        return self

    def predict(self, X):
        Z = gp_features(X, self.transform, self.eps) / self.length_scales_
        out = np.empty(len(Z))
        step = max(1, 4_000_000 // len(self.Z_))  # rows per block: a few MB of kernel at a time
        for s in range(0, len(Z), step):
            out[s : s + step] = (self.signal_ * np.exp(-0.5 * _sqdist(Z[s : s + step], self.Z_))) @ self.alpha_
        return out * self.y_std_ + self.y_mean_


class MeanEnsemble(RegressorMixin, BaseEstimator):
    """The mean of its members' predictions (all on the loss scale)."""

    def __init__(self, members: list | None = None):
        self.members = members

    def fit(self, X, y):
        self.fitted_ = [clone(m).fit(X, y) for m in self.members]
        return self

    def predict(self, X):
        return np.mean([m.predict(X) for m in self.fitted_], axis=0)


class DomainComposite(RegressorMixin, BaseEstimator):
    """L(w) = b + sum_d s_d L_d(w), s_d >= 0: a target whose text resembles the training domains' is scored
    like a mixture of them (on the default it is one: its documents are the domains' in proportions w*).

    `fit(X, y, domain_losses)` takes each proxy's loss on every training domain (columns in the order of X's):
    s and b by non-negative least squares of the target's loss on them; each domain with s_d > 0 gets its
    own models of L_d(w), the mean of `members`, which have every proxy's loss of that domain to learn
    from. `coef_` (s), `intercept_` (b) and `fitted_` (per domain, its fitted members; none where s_d = 0).
    """

    def __init__(self, members: list | None = None):
        self.members = members

    def fit(self, X, y, domain_losses):
        X, y, D = np.asarray(X, float), np.asarray(y, float), np.asarray(domain_losses, float)
        if D.shape != X.shape:
            raise ValueError(f"domain_losses has shape {D.shape}; one loss per domain of X {X.shape} is needed")
        mean = D.mean(axis=0)
        self.coef_ = nnls(D - mean, y - y.mean())[0]  # centred: the intercept is free, the weights are not
        self.intercept_ = float(y.mean() - mean @ self.coef_)
        self.fitted_ = [
            [clone(m).fit(X, D[:, j]) for m in self.members] if s > 0 else [] for j, s in enumerate(self.coef_)
        ]
        return self

    def predict(self, X):
        out = np.full(len(X), self.intercept_)
        for s, models in zip(self.coef_, self.fitted_, strict=True):
            if models:
                out += s * np.mean([m.predict(X) for m in models], axis=0)
        return out


def make_estimator(name: str, config: RegressionConfig):
    """An unfitted estimator for candidate `name`."""
    if name == "linear":
        return LinearRegression()
    if name in ("lightgbm", "lightgbm_reg"):
        import lightgbm as lgb

        c = config.lightgbm if name == "lightgbm" else config.lightgbm_reg
        return lgb.LGBMRegressor(
            n_estimators=c.n_estimators,
            learning_rate=c.learning_rate,
            num_leaves=c.num_leaves,
            min_child_samples=c.min_child_samples,
            subsample=c.subsample,
            subsample_freq=1 if c.subsample < 1 else 0,
            colsample_bytree=c.colsample,
            random_state=c.seed,
            deterministic=True,
            force_row_wise=True,
            num_threads=config.threads,
            verbose=-1,
        )
    if name == "loglinear":
        return LogLinearLaw()
    if name == "gp":
        return LogWeightGP("log", config.gp.eps, config.gp.ard, config.gp.length_scale, config.gp.max_iter)
    if name == "gp_sqrt":
        return LogWeightGP("sqrt", config.gp.eps, config.gp.ard, config.gp.length_scale, config.gp.max_iter)
    if name == "ensemble":
        return MeanEnsemble([make_estimator(m, config) for m in config.ensemble_members])
    if name == "composite":
        return DomainComposite([make_estimator(m, config) for m in config.composite_members])
    raise InputError(_WHERE + "candidates", f"value {name!r} is not a known model", f"use one of {MODEL_NAMES}")


def fit_estimator(name: str, config: RegressionConfig, X: np.ndarray, y: np.ndarray, domain_losses=None):
    """Candidate `name` fitted on (X, y); the composite also on `domain_losses` (proxies x domains, as X)."""
    estimator = make_estimator(name, config)
    if name != "composite":
        return estimator.fit(X, y)
    if domain_losses is None:
        raise InputError(
            _WHERE + "candidates",
            "value composite needs every training domain's loss of each proxy, and none were given",
            "give a losses CSV with a metric/<domain>_val_loss column per training domain, or drop composite",
        )
    return estimator.fit(X, y, domain_losses)
