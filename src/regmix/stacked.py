"""Train K proxy models of one architecture in lockstep in one process.

RegMix trains hundreds of tiny proxies (the 1M preset has 1.3M non-embedding parameters); one
such model cannot fill a GPU through Python-dispatched kernels. `StackedProxies` stacks the
parameters of K models along a new leading dimension (`torch.func.stack_module_state`) and
runs the forward with `torch.func.vmap` over `torch.func.functional_call`, so every kernel
works on all K proxies at once. Training is exactly that of K separate models: each proxy
gets its own data, its own mean cross-entropy loss, its own gradient-norm clipping, and
AdamW (elementwise) updates each proxy's slice independently.

Two deviations from plain autocast, both to match K separate autocast models: the loss is
computed on float32 logits (autocast's float32 cross-entropy is skipped under vmap), and
cuDNN's attention is left out of SDPA's choices (in torch 2.11, torch.compile of the
vmapped model with cuDNN attention fails at run time; flash attention is used instead).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

_SDPA_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


class StackedProxies:
    """K models with identical architecture (different weights) trained as one.

    Args:
        models: the K models; their current weights are copied into the stack.
        lr, betas, weight_decay: AdamW hyper-parameters (RegMix: lr 4e-4).
        max_grad_norm: each proxy's gradients are clipped to this total norm (RegMix: 1.0).
        autocast_dtype: e.g. `torch.bfloat16` for mixed precision (fp32 master weights).
        compile: wrap the vmapped loss in `torch.compile`.
        fused: passed to `torch.optim.AdamW` (None: PyTorch's default).
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        *,
        lr: float = 4e-4,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.1,
        max_grad_norm: float = 1.0,
        autocast_dtype: torch.dtype | None = None,
        compile: bool = False,
        fused: bool | None = None,
    ) -> None:
        if not models:
            raise ValueError("need at least one model")
        self.k = len(models)
        self.max_grad_norm = max_grad_norm
        self.autocast_dtype = autocast_dtype
        params, _ = stack_module_state(list(models))
        self.params: dict[str, torch.Tensor] = params
        # Buffers (litgpt's rope cos/sin) are the same for every proxy: share model 0's.
        self.buffers = {name: b for name, b in models[0].named_buffers()}
        self.device = next(iter(params.values())).device
        self._base = copy.deepcopy(models[0]).to("meta")
        loss_fn = vmap(self._loss_one, in_dims=(0, None, 0, 0))
        self._losses = torch.compile(loss_fn) if compile else loss_fn
        self.optimizer = torch.optim.AdamW(
            self.params.values(), lr=lr, betas=betas, weight_decay=weight_decay, fused=fused
        )

    def _loss_one(self, params, buffers, idx, targets):
        logits = functional_call(self._base, (params, buffers), (idx,))
        return F.cross_entropy(logits.flatten(0, -2).float(), targets.flatten())

    def losses(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of each proxy, shape (K,); `idx`, `targets` have shape (K, B, T)."""
        amp = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else nullcontext()
        )
        with amp, sdpa_kernel(_SDPA_BACKENDS):
            return self._losses(self.params, self.buffers, idx, targets)

    @torch.no_grad()
    def clip_grad_norms_(self) -> torch.Tensor:
        """Clip each proxy's gradients to `max_grad_norm`; returns the norms before clipping, (K,).

        Same arithmetic as `torch.nn.utils.clip_grad_norm_` applied to each model alone.
        """
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        sq = torch.stack([g.float().pow(2).flatten(1).sum(1) for g in grads]).sum(0)
        norms = sq.sqrt()
        coef = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))
        return norms

    def step(self, micro_batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """One optimizer step over gradient-accumulated micro-batches of shape (K, B, T).

        Returns each proxy's loss averaged over the micro-batches, shape (K,), detached.
        """
        batches = list(micro_batches)
        total = torch.zeros(self.k, device=self.device)
        for idx, targets in batches:
            losses = self.losses(idx, targets)
            (losses.sum() / len(batches)).backward()
            total += losses.detach().float()
        self.clip_grad_norms_()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total / len(batches)

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """The parameters of proxy `k`, loadable into one of the original models."""
        return {name: p[k].detach().clone() for name, p in self.params.items()}
