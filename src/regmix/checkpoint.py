"""Save a trained model in litgpt's checkpoint format (`lit_model.pth` + `model_config.yaml`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lightning.fabric import Fabric
from litgpt.utils import save_config

from .model import ModelConfig


def save_litgpt_checkpoint(fabric: Fabric, model, model_cfg: ModelConfig, vocab_size: int, tokenizer_json: str | Path, out_dir: str | Path, name: str) -> None:
    """Write `out_dir` so that litgpt's tools (`convert_from_litgpt`, `generate`) can load it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fabric.save(out_dir / "lit_model.pth", {"model": model})
    save_config(model_cfg.to_litgpt(vocab_size, name=name), out_dir)
    shutil.copy(tokenizer_json, out_dir / "tokenizer.json")
    eos = "<|endoftext|>"
    (out_dir / "tokenizer_config.json").write_text(json.dumps({"eos_token": eos, "bos_token": eos, "add_bos_token": False}) + "\n")
