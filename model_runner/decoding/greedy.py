"""Greedy search: always take the most likely next token.

Deterministic: the same prompt gives the same tokens, exactly those of transformers'
`generate(do_sample=False, num_beams=1)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from model_runner.decoding.choice import TokenRule
from model_runner.decoding.stepping import TokenStepper, run_solo


def greedy_stepper(
    *,
    max_new_tokens: int,
    eos_token_id: int | None,
    no_repeat_ngram_size: int = 0,
    min_new_tokens: int = 0,
) -> TokenStepper:
    """Greedy search as a stepper (one row)."""
    rule = TokenRule(no_repeat_ngram_size=no_repeat_ngram_size)
    return TokenStepper(rule, max_new_tokens, eos_token_id, min_new_tokens)


def greedy_search(
    model: torch.nn.Module,
    input_ids: Sequence[int] | torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int | None,
    no_repeat_ngram_size: int = 0,
) -> list[int]:
    """The new token ids of greedy search (ending with EOS when the model produced it)."""
    stepper = greedy_stepper(
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_token_id,
        no_repeat_ngram_size=no_repeat_ngram_size,
    )
    return run_solo(model, input_ids, stepper)
