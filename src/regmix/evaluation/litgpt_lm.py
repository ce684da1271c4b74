"""lm-eval's model interface over a litgpt `GPT` and its `tokenizer.json`: lm-eval scores the very model the
pipeline trained, with no conversion.

The Hugging Face route (litgpt's `convert_lit_checkpoint`, a `LlamaForCausalLM`, lm-eval's `HFLM`) gives
the same logits, but no `transformers` release installs beside this project's pins: litgpt 0.5.13 needs
huggingface-hub < 1.4, and every `transformers` that accepts tokenizers 0.23.3 needs huggingface-hub >= 1.5.

Only log-likelihoods are scored (`loglikelihood`, `loglikelihood_rolling`): multiple-choice and
perplexity tasks. The model was trained on packed documents that each follow the end-of-text token, so
every context starts with it, as a document did in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lm_eval.api.model import TemplateLM
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tokenizers import Tokenizer

from ..errors import InputError


class LitGPTLM(TemplateLM):
    """A litgpt `GPT` (in eval mode) as an lm-eval model: `batch_size` sequences per forward pass."""

    def __init__(self, model, tokenizer: Tokenizer, eos_id: int, batch_size: int = 16, device: str = "cpu"):
        super().__init__()
        self.model, self.tokenizer_, self.eos_id = model.to(device).eval(), tokenizer, eos_id
        self.batch_size_, self.device_ = batch_size, device

    @property
    def eot_token_id(self) -> int:
        return self.eos_id

    @property
    def max_length(self) -> int:
        return self.model.config.block_size

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        return self.tokenizer_.encode(string, add_special_tokens=False).ids

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        context_enc, continuation_enc = super()._encode_pair(context, continuation)
        return [self.eos_id, *context_enc], continuation_enc  # a document starts after end-of-text

    def tok_decode(self, tokens: list[int], **kwargs) -> str:
        return self.tokenizer_.decode(tokens)

    @torch.no_grad()
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        """(log P(continuation | context), whether it is the greedy continuation) of each (key, context, cont)."""
        rows = []
        for _, context, continuation in requests:
            if len(continuation) > self.max_length:
                raise InputError(
                    "evaluate.tasks",
                    f"a continuation of {len(continuation)} tokens is longer than the model's block_size "
                    f"({self.max_length})",
                    "use tasks with shorter answers (or fewer continuation_words)",
                )
            # the last block_size + 1 tokens: the model reads all but the last and predicts all but the first
            rows.append([*context, *continuation][-(self.max_length + 1) :])
        # longest first, so a batch pads little; the answers go back in the requests' order
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
        out: list[tuple[float, bool] | None] = [None] * len(rows)
        for start in range(0, len(order), self.batch_size_):
            batch = order[start : start + self.batch_size_]
            width = len(rows[batch[0]]) - 1
            x = torch.zeros(len(batch), width, dtype=torch.long)
            for j, i in enumerate(batch):
                x[j, : len(rows[i]) - 1] = torch.tensor(rows[i][:-1])  # right padding: causal, so it changes nothing
            logprobs = F.log_softmax(self.model(x.to(self.device_)).float(), dim=-1).cpu()
            for j, i in enumerate(batch):
                n, m = len(rows[i]) - 1, len(requests[i][2])
                target = torch.tensor(rows[i][-m:])
                lp = logprobs[j, n - m : n]
                answer = (float(lp.gather(1, target[:, None]).sum()), bool((lp.argmax(-1) == target).all()))
                out[i] = answer
                if requests[i][0] is not None:
                    self.cache_hook.add_partial("loglikelihood", requests[i][0], answer)
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """The log-likelihood of each whole string, in disjoint windows of block_size tokens (as lm-eval's HFLM)."""
        out = []
        for (string,) in [r.args for r in requests]:
            windows = [
                (None, *make_disjoint_window(w))
                for w in get_rolling_token_windows(
                    token_list=self.tok_encode(string),
                    prefix_token=self.eos_id,
                    max_seq_len=self.max_length,
                    context_len=1,
                )
            ]
            total = sum(ll for ll, _ in self._loglikelihood_tokens(windows))
            self.cache_hook.add_partial("loglikelihood_rolling", (string,), total)
            out.append(total)
        return out

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        task = requests[0].task_name if requests else "?"
        raise InputError(
            "evaluate.tasks",
            f"task {task!r} generates text; the litgpt model is scored by log-likelihood only",
            "use tasks of output_type multiple_choice, loglikelihood or loglikelihood_rolling",
        )
