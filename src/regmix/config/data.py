"""Config of the domains and tokenize stages: where the domains come from, the synthetic corpus, the tokenizer."""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt, model_validator

from .base import DomainName, Fraction, Seed, Text, config_dataclass, fail, matching
from .sweep import RayConfig

EOS = "<|endoftext|>"
# The synthetic corpus spells words from these (regmix.data.synthetic): one syllable for function words,
# two or three for content words, so the number of distinct words is bounded.
CONSONANTS, VOWELS = "bcdfghjklmnprstvwz", "aeiou"
SYLLABLES = len(CONSONANTS) * len(VOWELS)


@config_dataclass
class HFSource:
    """A Hugging Face dataset: `path` is a hub name or a local directory/file (see `datasets.load_dataset`)."""

    path: str = ""
    name: str | None = None  # the dataset's config name
    data_files: dict[str, str] | None = None  # for a builder such as "json" or "parquet": {split: file or glob}
    train_split: Text = "train"
    valid_split: Text = "validation"
    test_split: Text | None = None  # the held-out split the large models are scored on (e.g. "test")
    text_field: Text = "text"
    domain_field: Text = "domain"  # dotted for nested fields, e.g. "meta.pile_set_name"
    docs_per_file: PositiveInt = 100_000


@config_dataclass
class PileSource:
    """The raw Pile: `*.jsonl.zst` (or `.jsonl`) shards whose lines carry their domain in `meta.pile_set_name`."""

    train: list[Text] = field(default_factory=list)  # files or globs, e.g. /data/pile/train/*.jsonl.zst
    valid: list[Text] = field(default_factory=list)  # e.g. /data/pile/val.jsonl.zst
    test: list[Text] = field(default_factory=list)  # held out for the large models' scores, e.g. test.jsonl.zst
    text_field: Text = "text"
    domain_field: Text = "meta.pile_set_name"  # dotted for nested fields
    file_mb: PositiveInt = (
        256  # a domain's output file is closed after this many MB (the unit of parallel tokenization)
    )


@config_dataclass
class SyntheticDomain:
    cluster: NonNegativeInt  # domains of one cluster share content words and a chain
    train_docs: PositiveInt  # the domain's size: documents in its training split
    share: Annotated[float, Field(ge=0, le=1)] = 0.5  # probability of a cluster-chain transition (vs its own chain)


# The embedded default: 8 domains in 3 clusters, of unequal sizes (so the token prior is not uniform), each large
# enough that the large model trained on w* repeats none of its domains (the ground truth is not bound by repetition).
DEFAULT_DOMAINS = {
    "web": SyntheticDomain(cluster=0, train_docs=3000, share=0.6),
    "wiki": SyntheticDomain(cluster=0, train_docs=2400, share=0.5),
    "books": SyntheticDomain(cluster=0, train_docs=1400, share=0.3),
    "code": SyntheticDomain(cluster=1, train_docs=1200, share=0.5),
    "math": SyntheticDomain(cluster=1, train_docs=1500, share=0.5),
    "legal": SyntheticDomain(cluster=2, train_docs=1400, share=0.4),
    "forum": SyntheticDomain(cluster=2, train_docs=1200, share=0.6),
    "science": SyntheticDomain(cluster=2, train_docs=1400, share=0.5),
}
# w*: every domain in it (so the best mixture lies inside the region the proxies' sampler covers), far from the token
# prior: the largest domains (web, wiki) get the least weight, the third cluster the most.
DEFAULT_TARGET = {
    "legal": 0.22,
    "science": 0.2,
    "forum": 0.18,
    "code": 0.12,
    "math": 0.1,
    "books": 0.08,
    "wiki": 0.06,
    "web": 0.04,
}


@config_dataclass
class SyntheticConfig:
    """Sizes and structure of the synthetic corpus (all deterministic from `seed`)."""

    domains: Annotated[dict[DomainName, SyntheticDomain], Field(min_length=2)] = field(
        default_factory=lambda: dict(DEFAULT_DOMAINS)
    )
    # w*, over training domains
    target_weights: dict[str, NonNegativeFloat] = field(default_factory=lambda: dict(DEFAULT_TARGET))
    own_fraction: Fraction = 0.0  # share of target documents from a chain of the target's own (unseen words)
    valid_docs: PositiveInt = 300  # validation documents per domain (the target's too): proxies, regression
    test_docs: PositiveInt = 300  # held-out test documents per domain: only the final large-model scoring
    doc_words: tuple[PositiveInt, PositiveInt] = (40, 160)  # document length range, in words
    function_words: Annotated[int, Field(ge=1, le=SYLLABLES)] = 40
    cluster_words: PositiveInt = 300
    own_words: PositiveInt = 200
    successors: PositiveInt = 6  # successors per word in each chain (lower: more predictable text)
    # a language every domain shares (as English is shared by the Pile's domains): the probability of a transition
    # by a chain common to all domains, over the function words and `common_words` words of its own; 0: none
    common_share: Annotated[float, Field(ge=0, lt=1)] = 0.0
    common_words: PositiveInt = 100
    seed: Seed = 0

    @model_validator(mode="after")
    def _check(self):
        for name, w in self.target_weights.items():
            if name not in self.domains:
                fail(
                    f"is the weight of {name!r}, which is not a domain",
                    f"use some of {', '.join(self.domains)}",
                    f"target_weights.{name}",
                    w,
                )
        if not sum(self.target_weights.values()) > 0:
            fail("has no positive weight", "give the target's true mixture w*", "target_weights", self.target_weights)
        if self.doc_words[0] > self.doc_words[1]:
            fail("is not a range (low > high)", "give [low, high], e.g. [40, 160]", "doc_words", list(self.doc_words))
        clusters = len({d.cluster for d in self.domains.values()})
        words = self.cluster_words * clusters + self.own_words * (len(self.domains) + 1)
        words += self.common_words if self.common_share > 0 else 0
        if words > SYLLABLES**2 + SYLLABLES**3:
            fail(
                f"with cluster_words {self.cluster_words} asks for {words:,} distinct content words, more than the "
                f"{SYLLABLES**2 + SYLLABLES**3:,} the generator can spell",
                "lower own_words or cluster_words",
                "own_words",
                self.own_words,
            )
        return self

    @property
    def true_mixture(self) -> dict[str, float]:
        """w*, normalised over all training domains."""
        total = sum(self.target_weights.values())
        return {d: self.target_weights.get(d, 0.0) / total for d in self.domains}


@config_dataclass
class DomainsParams:
    source: Literal["synthetic", "local", "hf", "pile"] = "synthetic"  # local: a directory in the paper's layout
    path: str | None = None  # the local directory
    target: DomainName = "target"  # the domain whose validation loss RegMix minimises
    # prepended to local/hf domain names, e.g. "the_pile_" for the paper's column names
    prefix: Annotated[str, matching(r"[A-Za-z0-9_.]*", "letters, digits, _ and .")] = ""
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    hf: HFSource = field(default_factory=HFSource)
    pile: PileSource = field(default_factory=PileSource)

    @model_validator(mode="after")
    def _check(self):
        if self.source == "pile" and not self.pile.train:
            fail(
                "is empty but source is 'pile'",
                "list the Pile's shards, e.g. [/data/pile/train/*.jsonl.zst]",
                "pile.train",
                self.pile.train,
            )
        if self.source == "local" and not self.path:
            fail(
                "is empty but source is 'local'",
                "set domains.path to a directory with train/ and valid/",
                "path",
                self.path,
            )
        if self.source == "hf" and not self.hf.path:
            fail("is empty but source is 'hf'", "give a dataset name or a local path", "hf.path", self.hf.path)
        if self.source == "synthetic" and self.target in self.synthetic.domains:
            fail(
                "is also a training domain of the synthetic corpus (the target is evaluation-only)",
                "give the target a name of its own, e.g. target",
                "target",
                self.target,
            )
        return self


@config_dataclass
class TokenizerConfig:
    path: str | None = None  # a tokenizer.json to load (e.g. GPT-NeoX's); None trains a BPE
    # for the trained BPE: at least its 256 byte tokens and the end-of-text token
    vocab_size: Annotated[int, Field(ge=257)] = 2048
    eos_token: Text = EOS  # appended after every document
    batch_size: PositiveInt = 1000  # documents per encode_batch call


DEFAULT_TOKENIZE_DOMAINS = [*DEFAULT_DOMAINS, "target"]


@config_dataclass
class TokenizeParams:
    """How the domains are tokenized: one DVC stage per listed domain, each a pool of workers (or Ray tasks)."""

    domains: list[DomainName] = field(default_factory=lambda: list(DEFAULT_TOKENIZE_DOMAINS))  # dvc.yaml's foreach
    workers: PositiveInt = 2  # worker processes per domain stage (executor local), one input file each at a time
    executor: Literal["local", "ray"] = "local"  # local: a process pool of `workers`; ray: one Ray task per file
    ray: RayConfig = field(default_factory=RayConfig)  # for executor ray: address, num_cpus per task, max_retries

    @model_validator(mode="after")
    def _check(self):
        if not self.domains or len(set(self.domains)) != len(self.domains):
            fail("is empty or repeats a name", "list each domain once", "domains", self.domains)
        return self
