"""Stage 7: predict many candidate mixtures, average the top k: the optimal mixture (within usage caps)."""

import argparse
import dataclasses
import shutil
import tempfile
from pathlib import Path

from regmix.files import atomic_path
from regmix.formats import write_mixture_yaml
from regmix.mixtures.sampling import check_caps_feasible, resolve_prior, usage_caps
from regmix.simulation.simulate import simulate_dir
from regmix.stage import run_stage
from regmix.token_store import TokenStore


def main(args, params):
    store = TokenStore(args.tokens)
    counts, tokens = store.counts["train"], params.large.train.tokens
    # caps for the large model: it must not repeat a domain more than max_epochs times
    caps = usage_caps(counts, tokens, params.mixtures.max_epochs)
    check_caps_feasible(caps, counts, tokens, "params.yaml, fields mixtures.max_epochs and large.train.tokens")
    cfg = dataclasses.replace(params.simulation, seed=params.seed, dirichlet=params.mixtures)
    with tempfile.TemporaryDirectory() as tmp:  # the prior to sample around: the measured one, or mixtures.prior
        prior_yaml = Path(tmp) / "prior.yaml"
        write_mixture_yaml(prior_yaml, resolve_prior(params.mixtures, store.prior()))
        result = simulate_dir(args.model, prior_yaml, args.out, cfg, caps=caps, target=params.domains.target)
    with atomic_path(args.optimal) as tmp:
        shutil.copy(Path(args.out) / "optimal_mixture.yaml", tmp)
    print("optimal mixture:", {d: round(w, 3) for d, w in result["optimal"].items()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--optimal", required=True)
    run_stage(main, parser)
