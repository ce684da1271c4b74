"""The training loss: the plain path, the fused model's forward, and liger-kernel's fused loss on a GPU."""

import dataclasses

import pytest
import torch

from regmix.config.training import ModelConfig, TrainConfig
from regmix.errors import InputError
from regmix.training.loop import train
from regmix.training.loss import FusedLossGPT, next_token_loss
from regmix.training.model import build_model, litgpt_config

TINY = ModelConfig(n_layer=2, n_head=2, n_embd=32, intermediate_size=64, block_size=16)
VOCAB = 97


def tokens(rows: int, seed: int = 0, device: str = "cpu") -> torch.Tensor:
    return torch.randint(VOCAB, (rows, TINY.block_size + 1), generator=torch.Generator().manual_seed(seed)).to(device)


def test_plain_loss_is_the_mean_negative_log_likelihood_of_the_next_token():
    torch.manual_seed(0)
    model = build_model(TINY, VOCAB)
    batch = tokens(3)
    logp = torch.log_softmax(model(batch[:, :-1]).double(), dim=-1)
    expected = -logp.gather(-1, batch[:, 1:, None]).mean()
    assert next_token_loss(model, batch).item() == pytest.approx(expected.item(), rel=1e-6)
    shifted = -logp.gather(-1, batch[:, :-1, None]).mean()  # scoring each token instead of the next
    assert abs(shifted.item() - expected.item()) > 1e-3


def test_fused_model_has_litgpt_parameters_and_forward():
    torch.manual_seed(0)
    plain = build_model(TINY, VOCAB)
    torch.manual_seed(0)
    fused = build_model(TINY, VOCAB, loss="liger")
    assert type(fused) is FusedLossGPT and type(plain) is not FusedLossGPT
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), fused.state_dict().values(), strict=True))
    x = tokens(2)[:, :-1]
    assert torch.equal(fused(x), plain(x))  # without targets: litgpt's logits
    # the hidden states the fused loss reads are exactly those litgpt's lm_head reads
    assert torch.equal(fused.lm_head(fused.hidden_states(x)), plain(x))


def test_liger_on_a_cpu_is_refused_by_name(tokens_dir):
    from regmix.token_store import TokenStore

    store = TokenStore(tokens_dir)
    cfg = TrainConfig(tokens=16 * 4 * 2, batch_size=4, loss="liger")
    with pytest.raises(InputError, match=r"train.loss: .*'liger' runs on a CUDA GPU only.*use plain"):
        train(TINY, cfg, {"alpha": 1.0}, store, ["alpha"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="liger-kernel's fused loss runs on a CUDA GPU")
def test_liger_matches_the_plain_loss_and_gradients_in_bf16():
    pytest.importorskip("liger_kernel")
    cfg = litgpt_config(dataclasses.replace(TINY, block_size=64), 50432)
    torch.manual_seed(0)
    model = FusedLossGPT(cfg).cuda()
    batch = torch.randint(50432, (8, 65), device="cuda")
    grads, losses = [], []
    for loss in ("plain", "liger"):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            value = next_token_loss(model, batch, loss)
        value.backward()
        losses.append(value.float().item())
        grads.append({n: p.grad.float().clone() for n, p in model.named_parameters()})
    assert losses[1] == pytest.approx(losses[0], rel=2e-2)
    for name, g in grads[0].items():  # bf16 tolerance, relative to each gradient's scale
        assert (grads[1][name] - g).norm() <= 2e-2 * g.norm() + 1e-6, name
