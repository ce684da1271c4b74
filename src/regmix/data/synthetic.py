"""A synthetic multi-domain corpus whose best mixture for the target is known.

Each training domain is a word-level Markov chain. Its words are shared function words, the
content words of its cluster, and content words of its own. Its transitions mix a cluster chain
(shared by the domains of a cluster) with a chain of its own, so domains of one cluster help each
other, by how much they share, and domains of other clusters help only through function words and,
with `common_share` > 0, through a common chain that every domain uses for that share of its
transitions (a language all domains are written in).

The target domain is evaluation-only: its documents come from the training domains in exactly the
proportions w* (fresh samples of each domain's chain; largest-remainder rounding, in shuffled order),
plus an `own_fraction` from a chain of its own. Since w* is known, the pipeline can report how close
RegMix gets to it. Every domain has `valid_docs` validation and `test_docs` held-out test documents,
disjoint samples: proxies and the regression see `valid`, only the final large-model scoring sees `test`.
"""

from __future__ import annotations

import numpy as np

from ..config.data import CONSONANTS, VOWELS, SyntheticConfig

_CONSONANTS, _VOWELS = list(CONSONANTS), list(VOWELS)


class _Chain:
    """A sparse Markov chain over word ids: `successors[s]` with probabilities `cum[s]` (cumulative)."""

    def __init__(self, states: np.ndarray, targets: np.ndarray, k: int, rng: np.random.Generator):
        self.states = states
        self.next = rng.choice(targets, size=(len(states), k))
        p = rng.dirichlet(np.full(k, 0.7), size=len(states))
        self.cum = np.cumsum(p, axis=1)


class _DomainSampler:
    """Samples documents of one domain: a cluster chain and an own chain, mixed by `share`."""

    def __init__(self, chains: list[_Chain], shares: list[float], vocab_size: int, starts: int | None = None):
        # Dense lookup: for each global word id, its row in each chain (-1 where absent).
        self.chains, self.shares = chains, np.cumsum(shares)
        self.rows = []
        for c in chains:
            row = np.full(vocab_size, -1)
            row[c.states] = np.arange(len(c.states))
            self.rows.append(row)
        # a document starts at a word of the first `starts` chains (not the common chain's: every word is its state)
        self.start = np.unique(np.concatenate([c.states for c in chains[:starts]]))

    def sample(self, n_docs: int, lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        cur = rng.choice(self.start, size=n_docs)
        out = np.empty((n_docs, lengths.max()), dtype=np.int64)
        for t in range(lengths.max()):
            out[:, t] = cur
            which = np.searchsorted(self.shares, rng.random(n_docs) * self.shares[-1])
            rows = np.stack([row[cur] for row in self.rows])  # (chains, docs)
            has = rows >= 0
            # a word with no row in the drawn chain moves by a chain that has one
            which = np.where(has[which, np.arange(n_docs)], which, has.argmax(axis=0))
            u = rng.random(n_docs)
            nxt = np.empty_like(cur)
            for ci, chain in enumerate(self.chains):
                pick = which == ci
                r = rows[ci, pick]
                col = (chain.cum[r] < u[pick, None]).sum(axis=1).clip(max=chain.next.shape[1] - 1)
                nxt[pick] = chain.next[r, col]
            cur = nxt
        return [out[i, : lengths[i]] for i in range(n_docs)]


def _make_words(n: int, rng: np.random.Generator, taken: set[str], syllables: tuple[int, int]) -> list[str]:
    words = []
    while len(words) < n:
        k = rng.integers(syllables[0], syllables[1] + 1)
        w = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(k))
        if w not in taken:
            taken.add(w)
            words.append(w)
    return words


def exact_counts(weights: np.ndarray, n: int) -> np.ndarray:
    """`n` split in proportion to `weights` (largest remainder): the counts sum to `n` and differ from n*w by < 1."""
    share = n * weights / weights.sum()
    counts = np.floor(share).astype(int)
    counts[np.argsort(-(share - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


def generate(cfg: SyntheticConfig, target: str = "target") -> dict[str, dict[str, list[str]]]:
    """Generate the corpus: {split: {domain: docs}} for train, valid and test; `target` has no train split."""
    rng = np.random.default_rng(cfg.seed)
    taken: set[str] = set()
    words = _make_words(cfg.function_words, rng, taken, (1, 1))
    function_ids = np.arange(len(words))

    def new_ids(n: int, r: np.random.Generator = rng) -> np.ndarray:
        start = len(words)
        words.extend(_make_words(n, r, taken, (2, 3)))
        return np.arange(start, len(words))

    clusters = sorted({d.cluster for d in cfg.domains.values()})
    cluster_ids = {c: np.concatenate([function_ids, new_ids(cfg.cluster_words)]) for c in clusters}
    cluster_chain = {c: _Chain(ids, ids, cfg.successors, rng) for c, ids in cluster_ids.items()}
    samplers = {}
    for name, d in cfg.domains.items():
        own = np.concatenate([function_ids, new_ids(cfg.own_words)])
        targets = np.concatenate([own, cluster_ids[d.cluster]])
        samplers[name] = (cluster_chain[d.cluster], _Chain(own, targets, cfg.successors, rng), d.share)
    target_ids = np.concatenate([function_ids, new_ids(cfg.own_words)])
    target_chain = _Chain(target_ids, target_ids, cfg.successors, rng)
    if cfg.common_share > 0:  # drawn last, from a stream of its own: common_share 0 leaves the corpus as it was
        crng = np.random.default_rng([cfg.seed, len(cfg.domains), 4])
        # from any word into the function and common words; from a common word only this chain leads on
        common_ids = np.concatenate([function_ids, new_ids(cfg.common_words, crng)])
        common = _Chain(np.arange(len(words)), common_ids, cfg.successors, crng)
    g = cfg.common_share
    vocab = np.array(words)
    built = {
        n: _DomainSampler([c, o, common], [(1 - g) * s, (1 - g) * (1 - s), g], len(words), starts=2)
        if g > 0
        else _DomainSampler([c, o], [s, 1 - s], len(words))
        for n, (c, o, s) in samplers.items()
    }
    target_own = _DomainSampler([target_chain], [1.0], len(words))

    def docs(sampler: _DomainSampler, n: int, drng: np.random.Generator) -> list[str]:
        lengths = drng.integers(cfg.doc_words[0], cfg.doc_words[1] + 1, size=n)
        return [" ".join(vocab[ids]) for ids in sampler.sample(n, lengths, drng)]

    splits = {"train": {}, "valid": {}, "test": {}}
    sizes = {"valid": cfg.valid_docs, "test": cfg.test_docs}
    for i, (name, d) in enumerate(cfg.domains.items()):
        splits["train"][name] = docs(built[name], d.train_docs, np.random.default_rng([cfg.seed, i, 0]))
        for k, split in enumerate(sizes, start=1):
            splits[split][name] = docs(built[name], sizes[split], np.random.default_rng([cfg.seed, i, k]))

    # The target: documents from each source in exactly the proportions w* (and own_fraction), shuffled.
    names = list(cfg.domains)
    weights = np.append(np.array([cfg.true_mixture[n] for n in names]) * (1 - cfg.own_fraction), cfg.own_fraction)
    for k, (split, n) in enumerate(sizes.items(), start=1):
        trng = np.random.default_rng([cfg.seed, len(cfg.domains), 2, k])
        source = trng.permutation(np.repeat(np.arange(len(names) + 1), exact_counts(weights, n)))
        target_docs: list[str] = [""] * n
        for s in np.unique(source):
            where = np.flatnonzero(source == s)
            sampler = target_own if s == len(names) else built[names[s]]
            drng = np.random.default_rng([cfg.seed, len(cfg.domains), 3, k, int(s)])
            for j, text in zip(where, docs(sampler, len(where), drng), strict=True):
                target_docs[j] = text
        splits[split][target] = target_docs
    return splits
