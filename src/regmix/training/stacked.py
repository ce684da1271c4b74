"""Train K proxy models of one architecture in lockstep in one process.

RegMix trains hundreds of tiny proxies (the 1M preset has 1.3M non-embedding parameters); one
such model cannot fill a GPU through Python-dispatched kernels. `StackedProxies` stacks the
parameters of K models along a new leading dimension (`torch.func.stack_module_state`) and
runs the transformer body with `torch.func.vmap` over `torch.func.functional_call`, so every
kernel works on all K proxies at once. Training is exactly that of K separate models: each
proxy gets its own data, its own mean cross-entropy loss, its own gradient-norm clipping, and
AdamW (elementwise) updates each proxy's slice independently.

The output layer and the loss are one autograd function, `linear_cross_entropy`: the 1M
proxy's lm_head (256 x 50432) is ~88% of its FLOPs, and its logits are the largest tensor by
far. The function writes the logits' gradient (softmax - one-hot, bf16 under autocast) in the
forward pass, in the same kernel that reduces the loss, and the backward pass only runs the
two matrix products; the cross-entropy is computed in float32 as autocast would.

cuDNN's attention is left out of SDPA's choices: in torch 2.11, torch.compile of the vmapped
model with cuDNN attention fails at run time; flash attention is used instead.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

_SDPA_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def cross_entropy_and_grad(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row cross-entropy of (R, V) logits (in float32) and its gradient, softmax - one-hot.

    The gradient has the logits' dtype. Under torch.compile the loss and the softmax are one
    reduction kernel (plus a scatter over the R target entries); eagerly, the in-place ops keep
    the float32 temporaries to one copy of the logits.
    """
    x = logits.float()
    t = targets.unsqueeze(-1)
    lse = torch.logsumexp(x, dim=-1, keepdim=True)
    loss = (lse - x.gather(-1, t)).squeeze(-1)
    grad = x.sub_(lse).exp_().to(logits.dtype)  # softmax (x may be `logits` itself: unused after)
    grad.scatter_add_(-1, t, torch.full_like(t, -1, dtype=grad.dtype))  # minus one-hot
    return loss, grad


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, dtype, ce_fn):
        h = hidden.to(dtype)
        w = weight.to(dtype)
        k, n, _ = h.shape
        logits = torch.bmm(h, w.transpose(1, 2))  # (K, N, V)
        loss, grad = ce_fn(logits.flatten(0, 1), targets.flatten())
        ctx.save_for_backward(grad.view_as(logits), h, w)
        ctx.dtypes = (hidden.dtype, weight.dtype)
        return loss.view(k, n).mean(1)

    @staticmethod
    def backward(ctx, grad_losses):
        grad, h, w = ctx.saved_tensors
        scale = (grad_losses / grad.size(1)).view(-1, 1, 1)
        grad_hidden = torch.bmm(grad, w).to(ctx.dtypes[0]) * scale
        grad_weight = torch.bmm(grad.transpose(1, 2), h).to(ctx.dtypes[1]) * scale
        return grad_hidden, grad_weight, None, None, None


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    dtype: torch.dtype | None = None,
    ce_fn: Callable = cross_entropy_and_grad,
) -> torch.Tensor:
    """Mean cross-entropy of `hidden @ weight.T` for each of K models, shape (K,).

    hidden: (K, N, C); weight: (K, V, C); targets: (K, N). The matrix products run in `dtype`
    (default: hidden's). `ce_fn` is `cross_entropy_and_grad`, possibly compiled.
    """
    return _LinearCrossEntropy.apply(hidden, weight, targets, dtype or hidden.dtype, ce_fn)


class StackedProxies:
    """K litgpt `GPT` models with identical architecture (different weights) trained as one.

    Args:
        models: the K models; their current weights are copied into the stack.
        lr, betas, weight_decay: AdamW hyper-parameters (RegMix: lr 4e-4).
        max_grad_norm: each proxy's gradients are clipped to this total norm (RegMix: 1.0).
        autocast_dtype: e.g. `torch.bfloat16` for mixed precision (fp32 master weights).
        compile: compile the vmapped transformer body and the loss kernel (`torch.compile`).
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
        self._base.lm_head = nn.Identity()  # the body returns the final-norm hidden states
        body = vmap(self._hidden_one, in_dims=(0, None, 0))
        self._body = torch.compile(body) if compile else body
        self._ce_fn = torch.compile(cross_entropy_and_grad) if compile else cross_entropy_and_grad
        self.optimizer = torch.optim.AdamW(
            self.params.values(), lr=lr, betas=betas, weight_decay=weight_decay, fused=fused
        )

    def _hidden_one(self, params, buffers, idx):
        return functional_call(self._base, (params, buffers), (idx,))

    def losses(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of each proxy, shape (K,); `idx`, `targets` have shape (K, B, T)."""
        amp = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else nullcontext()
        )
        body_params = {n: p for n, p in self.params.items() if n != "lm_head.weight"}
        with amp, sdpa_kernel(_SDPA_BACKENDS):
            hidden = self._body(body_params, self.buffers, idx)
        return linear_cross_entropy(
            hidden.flatten(1, 2),
            self.params["lm_head.weight"],
            targets.flatten(1),
            self.autocast_dtype,
            self._ce_fn,
        )

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
            total += losses.detach()
        self.clip_grad_norms_()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total / len(batches)

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """The parameters of proxy `k`, loadable into one of the original models."""
        return {name: p[k].detach().clone() for name, p in self.params.items()}
