"""Save a trained model in litgpt's checkpoint format (`lit_model.pth` + `model_config.yaml`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lightning.fabric import Fabric
from litgpt.utils import save_config

from ..config.data import EOS
from ..config.training import ModelConfig
from .model import litgpt_config


def save_litgpt_checkpoint(
    fabric: Fabric,
    model,
    model_cfg: ModelConfig,
    vocab_size: int,
    tokenizer_json: str | Path,
    out_dir: str | Path,
    name: str,
    eos_token: str = EOS,
) -> None:
    """Write `out_dir` so that litgpt's tools (`convert_from_litgpt`, `generate`) can load it.

    Call it on every process: gathering a sharded (FSDP) model is collective. Only global rank 0
    writes; `lit_model.pth` holds `{"model": state_dict}`, one file, as litgpt's own checkpoints.
    """
    out_dir = Path(out_dir)
    if fabric.global_rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    fabric.save(out_dir / "lit_model.pth", {"model": model})
    if fabric.global_rank != 0:
        return
    save_config(litgpt_config(model_cfg, vocab_size, name=name), out_dir)
    shutil.copy(tokenizer_json, out_dir / "tokenizer.json")
    # litgpt's Tokenizer reads `tokenizer_class` (and fails without it), the special tokens and `add_bos_token`
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": eos_token,
        "bos_token": eos_token,
        "add_bos_token": False,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config) + "\n")
