"""litgpt models of RegMix's shape: the `Config` of a `ModelConfig`, the paper's presets, a fresh `GPT`.

RegMix's models are LLaMA-style: RMSNorm, rotary embeddings on the full head, a SwiGLU
("LLaMAMLP") feed-forward, no biases, untied embeddings. litgpt's `Config` defaults are
GPT-NeoX style, so every one of these is set explicitly here.
"""

from __future__ import annotations

from litgpt import Config
from litgpt.model import GPT

from ..config.training import PAPER_PRESETS, PAPER_VOCAB_SIZE, ModelConfig
from ..errors import InputError
from .loss import FusedLossGPT


def litgpt_config(cfg: ModelConfig, vocab_size: int, name: str = "regmix-proxy") -> Config:
    """The litgpt `Config` of shape `cfg` for a tokenizer of `vocab_size` tokens."""
    padded = cfg.padded_vocab_size or vocab_size
    if padded < vocab_size:
        raise InputError(
            "padded_vocab_size",
            f"value {padded} is smaller than the tokenizer's {vocab_size} tokens",
            "raise it, or set null",
        )
    return Config(
        name=name,
        block_size=cfg.block_size,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        n_embd=cfg.n_embd,
        n_query_groups=cfg.n_query_groups or cfg.n_head,
        intermediate_size=cfg.intermediate_size,
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


def paper_config(preset: str, vocab_size: int = PAPER_VOCAB_SIZE) -> Config:
    """The litgpt `Config` of one of the paper's models (`PAPER_PRESETS`), e.g. `paper_config("regmix-1b")`."""
    if preset not in PAPER_PRESETS:
        raise InputError("preset", f"unknown preset {preset!r}", f"use one of {sorted(PAPER_PRESETS)}")
    return litgpt_config(PAPER_PRESETS[preset], vocab_size, name=preset)


def build_model(config: ModelConfig, vocab_size: int, name: str = "regmix-proxy", loss: str = "plain") -> GPT:
    """A freshly initialised litgpt `GPT` (initialise under a seeded torch RNG for determinism).

    `loss: liger` gives a `FusedLossGPT` (the same parameters and initialisation; regmix.training.loss).
    """
    return (FusedLossGPT if loss == "liger" else GPT)(litgpt_config(config, vocab_size, name=name))


def count_parameters(model: GPT) -> dict[str, int]:
    """Total and non-embedding parameter counts (the paper reports the latter)."""
    total = sum(p.numel() for p in model.parameters())
    embedding = model.transformer.wte.weight.numel() + model.lm_head.weight.numel()
    return {"total": total, "non_embedding": total - embedding}
