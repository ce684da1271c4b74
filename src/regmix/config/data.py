"""Config of the domains and tokenize stages: where the domains come from, the synthetic corpus, the tokenizer."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from .sweep import RayConfig

SOURCES = ("synthetic", "local", "hf", "pile")
EOS = "<|endoftext|>"


@dataclass(frozen=True)
class HFSource:
    """A Hugging Face dataset: `path` is a hub name or a local directory/file (see `datasets.load_dataset`)."""

    path: str = ""
    name: str | None = None  # the dataset's config name
    data_files: dict[str, str] | None = None  # for a builder such as "json" or "parquet": {split: file or glob}
    train_split: str = "train"
    valid_split: str = "validation"
    text_field: str = "text"
    domain_field: str = "domain"  # dotted for nested fields, e.g. "meta.pile_set_name"
    docs_per_file: int = 100_000


@dataclass(frozen=True)
class PileSource:
    """The raw Pile: `*.jsonl.zst` (or `.jsonl`) shards whose lines carry their domain in `meta.pile_set_name`."""

    train: list[str] = field(default_factory=list)  # files or globs, e.g. /data/pile/train/*.jsonl.zst
    valid: list[str] = field(default_factory=list)  # e.g. /data/pile/val.jsonl.zst
    text_field: str = "text"
    domain_field: str = "meta.pile_set_name"  # dotted for nested fields
    file_mb: int = 256  # a domain's output file is closed after this many MB (the unit of parallel tokenization)


@dataclass(frozen=True)
class SyntheticDomain:
    cluster: int  # domains of one cluster share content words and a chain
    train_docs: int  # the domain's size: documents in its training split
    share: float = 0.5  # probability of a cluster-chain transition (vs its own chain)


# The embedded default: 8 domains in 3 clusters, of unequal sizes (so the token prior is not uniform).
DEFAULT_DOMAINS = {
    "web": SyntheticDomain(cluster=0, train_docs=1500, share=0.6),
    "wiki": SyntheticDomain(cluster=0, train_docs=800, share=0.5),
    "books": SyntheticDomain(cluster=0, train_docs=700, share=0.3),
    "code": SyntheticDomain(cluster=1, train_docs=600, share=0.5),
    "math": SyntheticDomain(cluster=1, train_docs=600, share=0.5),
    "legal": SyntheticDomain(cluster=2, train_docs=350, share=0.4),
    "forum": SyntheticDomain(cluster=2, train_docs=600, share=0.6),
    "science": SyntheticDomain(cluster=2, train_docs=500, share=0.5),
}
DEFAULT_TARGET = {"wiki": 0.4, "math": 0.25, "forum": 0.2, "science": 0.15}


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and structure of the synthetic corpus (all deterministic from `seed`)."""

    domains: dict[str, SyntheticDomain] = field(default_factory=lambda: dict(DEFAULT_DOMAINS))
    target_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TARGET))  # w*, over training domains
    own_fraction: float = 0.1  # share of target documents from the target's own chain
    valid_docs: int = 60  # documents per validation file (the target's too)
    doc_words: tuple[int, int] = (40, 160)  # document length range, in words
    function_words: int = 40
    cluster_words: int = 300
    own_words: int = 200
    successors: int = 6  # successors per word in each chain (lower: more predictable text)
    seed: int = 0

    def __post_init__(self):
        if len(self.domains) < 2:
            raise InputError("domains", f"needs at least 2 domains, found {len(self.domains)}", "list more domains")
        for name, w in self.target_weights.items():
            if name not in self.domains:
                raise InputError(
                    f"target_weights.{name}",
                    f"unknown domain {name!r} (weight {w})",
                    f"use one of {', '.join(self.domains)}",
                )
            if not w >= 0:
                raise InputError(f"target_weights.{name}", f"weight {w!r} is negative", "give weights >= 0")
        if sum(self.target_weights.values()) <= 0:
            raise InputError("target_weights", "all weights are zero or missing", "give the target's true mixture w*")
        if not 0 <= self.own_fraction < 1:
            raise InputError("own_fraction", f"value {self.own_fraction!r} is outside [0, 1)", "use e.g. 0.1")

    @property
    def true_mixture(self) -> dict[str, float]:
        """w*, normalised over all training domains."""
        total = sum(self.target_weights.values())
        return {d: self.target_weights.get(d, 0.0) / total for d in self.domains}


@dataclass(frozen=True)
class DomainsParams:
    source: str = "synthetic"  # synthetic | local (a directory in the paper's layout) | hf
    path: str | None = None  # the local directory
    target: str = "target"  # the domain whose validation loss RegMix minimises
    prefix: str = ""  # prepended to local/hf domain names, e.g. "the_pile_" for the paper's column names
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    hf: HFSource = field(default_factory=HFSource)
    pile: PileSource = field(default_factory=PileSource)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise InputError("source", f"value {self.source!r} is not a known source", f"use one of {SOURCES}")
        if self.source == "pile" and not self.pile.train:
            raise InputError(
                "pile.train",
                "is empty but source is 'pile'",
                "list the Pile's shards, e.g. [/data/pile/train/*.jsonl.zst]",
            )
        if self.source == "local" and not self.path:
            raise InputError(
                "path", "is empty but source is 'local'", "set domains.path to a directory with train/ and valid/"
            )


@dataclass(frozen=True)
class TokenizerConfig:
    path: str | None = None  # a tokenizer.json to load (e.g. GPT-NeoX's); None trains a BPE
    vocab_size: int = 2048  # for the trained BPE
    eos_token: str = EOS  # appended after every document
    batch_size: int = 1000  # documents per encode_batch call


DEFAULT_TOKENIZE_DOMAINS = [*DEFAULT_DOMAINS, "target"]


@dataclass(frozen=True)
class TokenizeParams:
    """How the domains are tokenized: one DVC stage per listed domain, each a pool of workers (or Ray tasks)."""

    domains: list[str] = field(default_factory=lambda: list(DEFAULT_TOKENIZE_DOMAINS))  # dvc.yaml's foreach list
    workers: int = 2  # worker processes per domain stage (executor local), one input file each at a time
    executor: str = "local"  # local (a process pool of `workers`) | ray (one Ray task per input file)
    ray: RayConfig = field(default_factory=RayConfig)  # for executor ray: address, num_cpus per task, max_retries

    def __post_init__(self):
        if self.executor not in ("local", "ray"):
            raise InputError("executor", f"value {self.executor!r} is not an executor", "use local or ray")
        if self.workers < 1:
            raise InputError("workers", f"value {self.workers} is below 1", "use a positive integer")
        if len(set(self.domains)) != len(self.domains) or not self.domains:
            raise InputError("domains", f"value {self.domains!r} is empty or repeats a name", "list each domain once")
