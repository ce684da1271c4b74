"""StackedProxies trains K proxies exactly like K separate litgpt models (CPU, fp32)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from regmix.config.training import ModelConfig
from regmix.training.model import build_model
from regmix.training.stacked import StackedProxies

CFG = ModelConfig(n_layer=2, n_head=2, n_embd=16, intermediate_size=32, block_size=16)
VOCAB, K, B, T = 50, 3, 2, 16
HPARAMS = dict(lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)


def _models():
    torch.manual_seed(0)
    return [build_model(CFG, VOCAB) for _ in range(K)]


def _data(n_micro: int):
    g = torch.Generator().manual_seed(1)
    tok = torch.randint(VOCAB, (n_micro, K, B, T + 1), generator=g)
    return [(t[..., :-1], t[..., 1:]) for t in tok]


# CPU SDPA has no vmap batching rule: vmap loops over the proxies there (correct, just slower).
pytestmark = pytest.mark.filterwarnings("ignore:There is a performance drop:UserWarning")


@pytest.mark.parametrize("max_grad_norm", [1e9, 0.45])
def test_stacked_matches_separate_models(max_grad_norm):
    models = _models()
    stacked = StackedProxies(models, max_grad_norm=max_grad_norm, **HPARAMS)
    opts = [torch.optim.AdamW(m.parameters(), **HPARAMS) for m in models]
    all_norms = []

    for step in range(2):
        micro = _data(2 + step)
        # Reference: each proxy alone, gradient accumulation, clip, AdamW.
        ref_losses, ref_norms = [], []
        for k, m in enumerate(models):
            total = 0.0
            for idx, tgt in micro:
                loss = F.cross_entropy(m(idx[k]).flatten(0, 1), tgt[k].flatten())
                (loss / len(micro)).backward()
                total += loss.item()
            ref_losses.append(total / len(micro))
            ref_norms.append(torch.nn.utils.clip_grad_norm_(m.parameters(), max_grad_norm))
        all_norms += ref_norms
        ref_grads = [{n: p.grad.clone() for n, p in m.named_parameters()} for m in models]
        for opt in opts:
            opt.step()
            opt.zero_grad(set_to_none=True)

        # Stacked: same pieces, checked one by one.
        total = torch.zeros(K)
        for idx, tgt in micro:
            losses = stacked.losses(idx, tgt)
            (losses.sum() / len(micro)).backward()
            total += losses.detach()
        torch.testing.assert_close(total / len(micro), torch.tensor(ref_losses), rtol=1e-5, atol=1e-6)
        norms = stacked.clip_grad_norms_()
        torch.testing.assert_close(norms, torch.stack(ref_norms), rtol=1e-5, atol=1e-6)
        for name, p in stacked.params.items():
            for k in range(K):
                torch.testing.assert_close(p.grad[k], ref_grads[k][name], rtol=1e-4, atol=1e-6)
        stacked.optimizer.step()
        stacked.optimizer.zero_grad(set_to_none=True)

        # Adam divides by sqrt(v): where a gradient is ~0, rounding-level differences move the
        # update by up to ~lr, so the weights are compared to 1% of lr.
        for k, m in enumerate(models):
            sd = stacked.state_dict(k)
            for name, p in m.named_parameters():
                torch.testing.assert_close(sd[name], p.detach(), rtol=1e-4, atol=1e-2 * HPARAMS["lr"])

    if max_grad_norm < 1e9:  # some proxies were clipped and some were not
        clipped = torch.stack(all_norms) > max_grad_norm
        assert clipped.any() and not clipped.all()


def test_step_returns_mean_losses_and_trains():
    stacked = StackedProxies(_models(), **HPARAMS)
    micro = _data(2)
    first = stacked.step(micro)
    assert first.shape == (K,)
    for _ in range(3):
        last = stacked.step(micro)
    assert (last < first).all()
