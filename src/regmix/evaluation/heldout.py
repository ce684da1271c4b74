"""Per-document test losses of a litgpt checkpoint: the held-out score of a large model.

A domain's test tokens are its documents, each followed by the end-of-text token. The model reads
them in consecutive windows of `block_size` tokens (as the validation loss does) and every predicted
token is credited to the document it belongs to, so the loss over any set of documents is
sum(nll) / sum(tokens) over them: what a bootstrap over documents resamples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def document_ids(tokens: np.ndarray, eos_id: int) -> np.ndarray:
    """For each predicted position 1..n-1, the index of its document (a document ends with its EOS token)."""
    ends = np.cumsum(tokens == eos_id)
    return ends[:-1]  # position j belongs to the document after the EOS tokens before it


@torch.no_grad()
def document_losses(
    model: torch.nn.Module, tokens: np.ndarray, eos_id: int, block_size: int, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """(summed next-token NLL in nats, predicted tokens) per document of `tokens` (which ends with EOS)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    n = len(tokens) - 1  # predicted positions
    nll = np.empty(n, dtype=np.float64)
    full = n // block_size
    windows = torch.from_numpy(tokens[: full * block_size + 1])
    model.eval()
    for i in range(0, full, batch_size):
        rows = torch.stack(
            [windows[k * block_size : (k + 1) * block_size + 1] for k in range(i, min(i + batch_size, full))]
        )
        logits = model(rows[:, :-1]).float()
        loss = F.cross_entropy(logits.flatten(0, 1), rows[:, 1:].flatten(), reduction="none")
        nll[i * block_size : i * block_size + loss.numel()] = loss.double().numpy()
    if n > full * block_size:  # the last, shorter window
        rest = torch.from_numpy(tokens[full * block_size :])[None]
        logits = model(rest[:, :-1]).float()
        nll[full * block_size :] = F.cross_entropy(logits[0], rest[0, 1:], reduction="none").double().numpy()
    docs = document_ids(tokens, eos_id)
    n_docs = int(docs[-1]) + 1 if n else 0
    return np.bincount(docs, weights=nll, minlength=n_docs), np.bincount(docs, minlength=n_docs)


def load_checkpoint(folder: str | Path) -> torch.nn.Module:
    """The litgpt GPT saved in `folder` (`model_config.yaml` and `lit_model.pth`), in eval mode."""
    from litgpt import Config
    from litgpt.model import GPT

    folder = Path(folder)
    model = GPT(Config.from_file(folder / "model_config.yaml"))
    state = torch.load(folder / "lit_model.pth", weights_only=True, map_location="cpu")
    model.load_state_dict(state.get("model", state))
    return model.eval()
