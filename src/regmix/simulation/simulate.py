"""RegMix's simulation: predict the loss of many candidate mixtures, average the best ones.

Candidates come from the prior's Dirichlet (the same sampler as the proxy mixtures, paper
section 3); the optimal mixture is the mean of the top-k candidates by predicted loss (the
paper: 1,000,000 candidates, top 100). Per-domain usage caps drop the candidates over a cap,
and the mean of capped mixtures is itself within the caps.

Uncertainty: the model is refitted on bootstrap resamples of its training rows (an unfitted
estimator rebuilt from the saved config) and the simulation is rerun, giving a 95% band for each
domain's optimal weight.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..config.simulation import SimulationConfig
from ..errors import InputError
from ..files import write_json, write_text
from ..formats import domain_of, loss_domain, read_csv, read_mixture_yaml, validate_mixture, write_mixture_yaml
from ..mixtures.sampling import sample_candidates
from ..regression.saved import FittedModel, load_model, load_training_data

_WHERE = "params.yaml, field simulation."


def read_prior(path, domains: list[str]) -> dict[str, float]:
    """The prior mixture over `domains`, normalised: a mixture YAML (paper format), or token counts
    as JSON (`{domain: tokens}`) or CSV (`domain,tokens`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "prior file not found", "give a mixture YAML or a JSON/CSV of token counts")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return read_mixture_yaml(path, domains)
    if suffix == ".json":
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(str(path), f"not valid UTF-8 JSON ({e})", 'write {"domain": token_count, ...}') from None
        if not isinstance(doc, dict):
            raise InputError(
                str(path), f"expected a mapping, found {type(doc).__name__}", 'write {"domain": token_count, ...}'
            )
        counts = doc.get("train", doc)
    elif suffix == ".csv":
        df = read_csv(path)
        if len(df.columns) != 2:
            raise InputError(
                f"{path}, header",
                f"columns {list(df.columns)} are not two (domain and count)",
                "write `domain,tokens` rows",
            )
        names = df.iloc[:, 0].astype(str)
        repeated = names[names.duplicated()]
        if len(repeated):
            raise InputError(f"{path}, domain {repeated.iloc[0]!r}", "appears more than once", "list each domain once")
        counts = dict(zip(names, df.iloc[:, 1], strict=True))
    else:
        raise InputError(
            str(path), f"unknown prior format {suffix!r}", "use .yaml (mixture), .json or .csv (token counts)"
        )
    named = {domain_of(k): v for k, v in counts.items()}
    return validate_mixture(named, domains, str(path))


def predict_chunks(
    estimator, candidates: np.ndarray, chunk_size: int, threads: int = 1, desc: str | None = None
) -> np.ndarray:
    """Predicted loss of every candidate, in chunks of at most `chunk_size` rows (with a progress bar).

    `threads` chunks are predicted at once (LightGBM and numpy release the GIL); each row's prediction is
    its own, so the result is the same for any `threads`. There are at least `threads` chunks.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    size = max(1, min(chunk_size, -(-len(candidates) // threads)))
    starts = range(0, len(candidates), size)
    out = np.empty(len(candidates))

    def one(s: int) -> None:
        out[s : s + size] = estimator.predict(candidates[s : s + size])

    with ThreadPoolExecutor(max_workers=threads) as pool:
        jobs = pool.map(one, starts)
        for _ in tqdm(jobs, total=len(starts), desc=desc, unit="chunk", leave=False, disable=desc is None):
            pass
    return out


def top_k_mean(candidates: np.ndarray, losses: np.ndarray, k: int) -> np.ndarray:
    """The mean of the k candidates with the lowest predicted loss (ties broken by position)."""
    top = np.argsort(losses, kind="stable")[:k]
    w = candidates[top].mean(axis=0)
    return w / w.sum()


def bootstrap_optima(
    model: FittedModel, X: np.ndarray, y: np.ndarray, candidates: np.ndarray, config: SimulationConfig, D=None
) -> np.ndarray:
    """(n_bootstrap, domains) optimal mixtures, each from a refit on resampled training rows (and their
    domain losses `D`, for the composite)."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng([config.seed, 1])
    out = []
    for _ in tqdm(range(config.n_bootstrap), desc="bootstrap refits", unit="refit", leave=False):
        rows = rng.integers(0, len(y), size=len(y))
        est = model.refit(X[rows], y[rows], None if D is None else D[rows])
        losses = predict_chunks(est, candidates, config.chunk_size, config.threads)
        out.append(top_k_mean(candidates, losses, config.top_k))
    return np.array(out).reshape(config.n_bootstrap, len(model.domains))


def simulate_dir(
    model_dir,
    prior_yaml,
    out_dir,
    config: SimulationConfig,
    caps: dict[str, float] | None = None,
    target: str | None = None,
) -> dict:
    """Run the simulation with the model in `model_dir` around the prior; write under `out_dir`:
    `optimal_mixture.yaml`, `band.csv` (domain, prior, optimal, low, high), `simulated_losses.csv`
    (histogram), `simulation.json` and figures. Returns the summary with {"optimal": {domain: w}}."""
    model = load_model(model_dir)
    prior = read_prior(prior_yaml, model.domains)
    if caps:
        validate_mixture(caps, model.domains, "usage caps", normalize=False)
    candidates = sample_candidates(prior, config.n_candidates, config.dirichlet, config.seed, caps)
    if len(candidates) < config.top_k:
        raise InputError(
            "usage caps" if caps else _WHERE + "n_candidates",
            f"only {len(candidates)} of {config.n_candidates} candidates are within the caps, fewer than top_k "
            f"{config.top_k}",
            "raise n_candidates or mixtures.max_epochs, or lower top_k",
        )
    losses = predict_chunks(model.estimator, candidates, config.chunk_size, config.threads, desc="simulation")
    optimal = top_k_mean(candidates, losses, config.top_k)
    if config.n_bootstrap:
        X, y, D = load_training_data(model_dir, model.domains)
        optima = bootstrap_optima(model, X, y, candidates[: config.bootstrap_candidates], config, D)
        low, high = np.percentile(optima, 2.5, axis=0), np.percentile(optima, 97.5, axis=0)
    else:
        low = high = optimal
    domains = model.domains
    prior_w = np.array([prior[d] for d in domains])
    band = pd.DataFrame({"domain": domains, "prior": prior_w, "optimal": optimal, "low": low, "high": high})
    counts, edges = np.histogram(losses, bins=config.histogram_bins)
    cut = float(np.sort(losses)[config.top_k - 1])
    summary = {
        "target": model.target,
        "model": model.name,
        "n_candidates": config.n_candidates,
        "n_within_caps": int(len(candidates)),
        "top_k": config.top_k,
        "n_bootstrap": config.n_bootstrap,
        "optimal": {d: float(w) for d, w in zip(domains, optimal, strict=True)},
        "band": {d: [float(a), float(b)] for d, a, b in zip(domains, low, high, strict=True)},
        "predicted_loss": {
            "optimal": float(model.predict(optimal)[0]),
            "prior": float(model.predict(prior_w)[0]),
            "top_k_mean": float(np.sort(losses)[: config.top_k].mean()),
            "all_mean": float(losses.mean()),
        },
    }
    out_dir = Path(out_dir)
    write_mixture_yaml(out_dir / "optimal_mixture.yaml", summary["optimal"], target or loss_domain(model.target))
    write_text(out_dir / "band.csv", band.to_csv(index=False, float_format="%.6g"))
    write_text(
        out_dir / "simulated_losses.csv",
        pd.DataFrame({"bin_left": edges[:-1], "bin_right": edges[1:], "count": counts}).to_csv(
            index=False, float_format="%.8g"
        ),
    )
    if config.figures:
        from . import figures

        figures.mixture_band(out_dir / "figures" / "mixture_band.png", band)
        figures.loss_histogram(
            out_dir / "figures" / "simulated_losses.png", edges, counts, cut, summary["predicted_loss"]["prior"]
        )
    write_json(out_dir / "simulation.json", summary)
    return summary
