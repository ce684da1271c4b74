"""The training loss, next-token cross-entropy: plain, or fused with the output layer on a GPU.

`plain` computes the logits (batch x tokens x vocab) with litgpt's `lm_head`, then `F.cross_entropy`.
`liger` hands the last hidden states and the `lm_head` weight to liger-kernel's fused linear
cross-entropy, which computes the loss and its gradients chunk by chunk and never holds the whole
logits tensor: at the paper's vocabulary (50,432) that tensor and the loss over it are about a third
of a proxy's GPU time. liger-kernel's kernels are Triton, so `liger` needs CUDA (and
`requirements-gpu.txt`); the loss is computed inside the model's forward, so DDP and FSDP see the
`lm_head` weight used as usual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from litgpt.model import GPT

from ..errors import InputError


class FusedLossGPT(GPT):
    """litgpt's `GPT`; `forward(idx, targets)` returns the mean next-token loss by liger-kernel's fused kernel.

    Without `targets` it is litgpt's forward (logits), so evaluation and lm-eval read it unchanged.
    Its parameters and state dict are `GPT`'s: checkpoints load into either class.
    """

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, **kwargs):
        if targets is None:
            return super().forward(idx, **kwargs)
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

        hidden = self.hidden_states(idx)
        return liger_fused_linear_cross_entropy(hidden.flatten(0, 1), self.lm_head.weight, targets.flatten())

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """The final-norm output (B, T, n_embd) of a training forward: litgpt's `forward` up to the `lm_head`."""
        T = idx.size(1)
        cos, sin = self.cos[:T].unsqueeze(0), self.sin[:T].unsqueeze(0)
        x = self.transformer.wte(idx)
        if self.config.scale_embeddings:
            x = x * torch.tensor(self.config.n_embd**0.5, dtype=x.dtype)
        for block in self.transformer.h:
            x = block(x, cos, sin, None, None, None)
        return self.transformer.ln_f(x)


def check_loss(loss: str, accelerator: str, field: str) -> None:
    """Raise if `loss` cannot run here: liger needs CUDA and the liger-kernel package."""
    if loss == "plain":
        return
    if accelerator == "cpu" or not torch.cuda.is_available():
        raise InputError(field, f"{loss!r} runs on a CUDA GPU only (liger-kernel's kernels are Triton)", "use plain")
    try:
        import liger_kernel  # noqa: F401
    except ImportError as e:
        raise InputError(
            field, f"{loss!r} needs the liger-kernel package ({e})", "pip install -r requirements-gpu.txt"
        ) from e


def next_token_loss(model: torch.nn.Module, tokens: torch.Tensor, loss: str = "plain") -> torch.Tensor:
    """Mean cross-entropy of each token of `tokens` (B, T + 1) given the ones before it, under `model`.

    `loss: liger` needs a `FusedLossGPT` (possibly wrapped by Fabric, DDP or FSDP).
    """
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    if loss == "liger":
        return model(inputs, targets)
    return F.cross_entropy(model(inputs).flatten(0, 1).float(), targets.flatten())
