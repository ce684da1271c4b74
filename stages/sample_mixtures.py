"""Stage 3: sample the proxy mixtures (RegMix's Dirichlet around the token prior), one CSV per shard.

As in the paper's reference, the proxies' weights are capped by the large run's usage caps (a domain's
tokens x max_epochs / large.train.tokens), the region the simulation searches, so the regression is
fitted where it is used. A proxy itself trains on far fewer tokens and repeats no domain that often.

The validation models' mixtures (`validation.runs`, the transfer check) come from the same sampler with a
seed stream of their own, none equal to a proxy's, one YAML per id in `validation/`.
"""

import argparse
from pathlib import Path

from regmix.formats import write_mixture_yaml, write_mixtures_csv
from regmix.mixtures.sampling import (
    check_caps_feasible,
    resolve_prior,
    sample_mixtures,
    sample_validation_mixtures,
    usage_caps,
)
from regmix.stage import run_stage
from regmix.token_store import TokenStore


def main(args, params):
    store = TokenStore(args.tokens)
    counts, tokens = store.counts["train"], params.large.train.tokens
    caps = usage_caps(counts, tokens, params.mixtures.max_epochs)
    check_caps_feasible(caps, counts, tokens, "params.yaml, fields mixtures.max_epochs and large.train.tokens")
    prior = resolve_prior(params.mixtures, store.prior())
    mixtures = sample_mixtures(prior, params.sweep.n_proxies, params.mixtures, params.seed, caps)
    out, size, domains = Path(args.out), params.sweep.shard_size, store.train_domains
    write_mixtures_csv(out / "mixtures.csv", mixtures, domains)
    for shard in params.sweep.shards:
        write_mixtures_csv(
            out / f"shard-{shard}.csv", mixtures[shard * size : (shard + 1) * size], domains, shard * size + 1
        )
    held_out = sample_validation_mixtures(prior, params.validation.runs, params.mixtures, params.seed, caps, mixtures)
    for i, mixture in held_out.items():
        write_mixture_yaml(out / "validation" / f"{i}.yaml", mixture, params.domains.target)
    print(f"{len(mixtures)} mixtures in {len(params.sweep.shards)} shards of {size}; {len(held_out)} for validation")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    run_stage(main, parser)
