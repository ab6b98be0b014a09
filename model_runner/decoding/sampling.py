"""Random sampling: draw the next token from the (reshaped) probability distribution.

Temperature, top-k and top-p reshape the distribution first, in transformers' order. Every
request draws from its own `torch.Generator`, so a seed fixes the tokens no matter what
else the process runs (HF `generate()` uses the global stream instead, so its tokens differ).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from model_runner.decoding.choice import TokenRule
from model_runner.decoding.processing import make_generator
from model_runner.decoding.stepping import TokenStepper, run_solo


def sampling_stepper(
    *,
    device: torch.device | str,
    max_new_tokens: int,
    eos_token_id: int | None,
    temperature: float = 1.0,
    top_k: int = 50,
    top_p: float = 1.0,
    seed: int | None = None,
    no_repeat_ngram_size: int = 0,
    min_new_tokens: int = 0,
) -> TokenStepper:
    """Random sampling as a stepper (one row, its own random stream)."""
    rule = TokenRule(
        no_repeat_ngram_size=no_repeat_ngram_size,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        generator=make_generator(seed, device),
    )
    return TokenStepper(rule, max_new_tokens, eos_token_id, min_new_tokens)


def sample(
    model: torch.nn.Module,
    input_ids: Sequence[int] | torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int | None,
    temperature: float = 1.0,
    top_k: int = 50,
    top_p: float = 1.0,
    seed: int | None = None,
    no_repeat_ngram_size: int = 0,
) -> list[int]:
    """The new token ids of sampling; the same seed gives the same tokens."""
    stepper = sampling_stepper(
        device=next(model.parameters()).device,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_token_id,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        no_repeat_ngram_size=no_repeat_ngram_size,
    )
    return run_solo(model, input_ids, stepper)
