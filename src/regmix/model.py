"""litgpt model configs: RegMix's proxy shape and the presets used by the pipeline.

RegMix's models are LLaMA-style: RMSNorm, rotary embeddings on the full head, a SwiGLU
("LLaMAMLP") feed-forward, no biases, untied embeddings. litgpt's `Config` defaults are
GPT-NeoX style, so every one of these is set explicitly here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from litgpt import Config
from litgpt.model import GPT

from .errors import InputError


@dataclass(frozen=True)
class ModelConfig:
    """The knobs of a LLaMA-style litgpt model; everything else is fixed to RegMix's shape."""

    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    intermediate_size: int = 128
    block_size: int = 128
    n_query_groups: int | None = None  # None: one group per head (no grouped queries)
    padded_vocab_size: int | None = None  # embedding rows; None: the tokenizer's size (the paper pads GPT-NeoX's to 50432)

    def to_litgpt(self, vocab_size: int, name: str = "regmix-proxy") -> Config:
        """The litgpt `Config` of this shape for a tokenizer of `vocab_size` tokens."""
        padded = self.padded_vocab_size or vocab_size
        if padded < vocab_size:
            raise InputError("padded_vocab_size", f"value {padded} is smaller than the tokenizer's {vocab_size} tokens", "raise it, or set null")
        return Config(
            name=name,
            block_size=self.block_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=self.n_embd,
            n_query_groups=self.n_query_groups or self.n_head,
            intermediate_size=self.intermediate_size,
            vocab_size=vocab_size,
            padded_vocab_size=padded,
            padding_multiple=1,
            mlp_class_name="LLaMAMLP",
            norm_class_name="RMSNorm",
            norm_eps=1e-5,
            rotary_percentage=1.0,
            parallel_residual=False,
            bias=False,
        )

    def as_dict(self) -> dict:
        return asdict(self)


# Presets of the paper (arXiv 2407.01492, Table 6), checked against sail-sg/regmix's
# model_training/lit_gpt/config.py (tinyllama_1M, tinyllama_60M, tinyllama_1_1b): LLaMA MLP,
# RMSNorm (eps 1e-5), full rotary, no biases, block 2048, vocab 50432 (GPT-NeoX's tokenizer, padded);
# the 1.1B has 16 heads without grouped queries.
PAPER_VOCAB_SIZE = 50432
PAPER_PRESETS: dict[str, ModelConfig] = {
    "regmix-1m": ModelConfig(n_layer=2, n_head=8, n_embd=256, intermediate_size=512, block_size=2048, padded_vocab_size=PAPER_VOCAB_SIZE),
    "regmix-60m": ModelConfig(n_layer=10, n_head=8, n_embd=768, intermediate_size=1536, block_size=2048, padded_vocab_size=PAPER_VOCAB_SIZE),
    "regmix-1b": ModelConfig(n_layer=22, n_head=16, n_embd=2048, intermediate_size=5632, block_size=2048, padded_vocab_size=PAPER_VOCAB_SIZE),
}


def paper_config(preset: str, vocab_size: int = PAPER_VOCAB_SIZE) -> Config:
    """The litgpt `Config` of one of the paper's models (`PAPER_PRESETS`), e.g. `paper_config("regmix-1b")`."""
    if preset not in PAPER_PRESETS:
        raise InputError("preset", f"unknown preset {preset!r}", f"use one of {sorted(PAPER_PRESETS)}")
    return PAPER_PRESETS[preset].to_litgpt(vocab_size, name=preset)


def build_model(config: ModelConfig, vocab_size: int, name: str = "regmix-proxy") -> GPT:
    """A freshly initialised litgpt `GPT` (initialise under a seeded torch RNG for determinism)."""
    return GPT(config.to_litgpt(vocab_size, name=name))


def count_parameters(model: GPT) -> dict[str, int]:
    """Total and non-embedding parameter counts (the paper reports the latter)."""
    total = sum(p.numel() for p in model.parameters())
    embedding = model.transformer.wte.weight.numel() + model.lm_head.weight.numel()
    return {"total": total, "non_embedding": total - embedding}
