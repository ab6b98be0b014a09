"""Decoding as steps: each method is a `Stepper` that, given one forward pass's logits for
its rows, decides the next input token of every row and which row's cache each continues.

The same steppers run alone (`run_solo`, one request, as transformers' `generate()` does)
and inside the batching engine, where many requests' rows share one forward pass. A request
occupies 1 row (greedy, sampling), `num_beams` rows (beam) or `top_k` rows (contrastive:
every candidate token is tried in its own row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from model_runner.decoding.choice import RowState, TokenRule, choose_tokens
from model_runner.decoding.forward import forward, prompt_tensor


@dataclass
class Decision:
    """What a stepper wants next: rows, their inputs, or the finished tokens."""

    inputs: list[int] = field(default_factory=list)  # next input token, one per row
    parents: list[int] | None = None  # row i continues current row parents[i]; None: same rows
    done: bool = False
    tokens: list[int] = field(default_factory=list)  # the new token ids, once done


class Stepper(Protocol):
    """One request's decoding state machine."""

    prefill_rows: int  # copies of the prompt to prefill (transformers' beam search uses n)
    rows: int  # rows it decodes on once started (beams, candidates)
    max_new_tokens: int  # the most tokens it adds
    needs_hidden: bool  # whether it reads the last layer's hidden states

    def begin(
        self, prompt: list[int], logits: torch.Tensor, hidden: torch.Tensor | None
    ) -> Decision:
        """After the prompt's forward pass: logits [prefill_rows, vocab], hidden [1, P, H]."""

    def advance(self, logits: torch.Tensor, hidden: torch.Tensor | None) -> Decision:
        """After a step: logits [rows, vocab], hidden [rows, 1, H] for this request's rows."""


class TokenStepper:
    """One row, one chosen token per step: greedy search and sampling (by its `rule`)."""

    prefill_rows = rows = 1
    needs_hidden = False

    def __init__(
        self,
        rule: TokenRule,
        max_new_tokens: int,
        eos_token_id: int | None,
        min_new_tokens: int = 0,
    ) -> None:
        self.rule = rule
        self.max_new_tokens = max_new_tokens
        self.eos_token_id = eos_token_id
        self.min_new_tokens = min_new_tokens
        self.tokens: list[int] = []
        self.new: list[int] = []

    def begin(
        self, prompt: list[int], logits: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> Decision:
        self.tokens = list(prompt)
        return self.advance(logits, hidden)

    def advance(self, logits: torch.Tensor, hidden: torch.Tensor | None = None) -> Decision:
        outcome = advance_together([self], logits)[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def state(self) -> RowState:
        """What its next choice depends on besides the logits."""
        early = len(self.new) < self.min_new_tokens
        return RowState(self.rule, self.tokens, self.eos_token_id if early else None)

    def took(self, token: int) -> Decision:
        """Record the chosen token; what the row does next."""
        self.new.append(token)
        self.tokens.append(token)
        if token == self.eos_token_id or len(self.new) >= self.max_new_tokens:
            return Decision(done=True, tokens=self.new)
        return Decision(inputs=[token])


def advance_together(
    steppers: Sequence[TokenStepper], logits: torch.Tensor
) -> list[Decision | Exception]:
    """One step of many one-row requests from their rows' logits [steppers, vocab], chosen
    in batched calls (choice.py); a request whose choice failed gets its error."""
    chosen = choose_tokens(logits, [stepper.state() for stepper in steppers])
    return [
        token if isinstance(token, Exception) else stepper.took(token)
        for stepper, token in zip(steppers, chosen, strict=True)
    ]


@torch.inference_mode()
def run_solo(
    model: torch.nn.Module, input_ids: Sequence[int] | torch.Tensor, stepper: Stepper
) -> list[int]:
    """Decode one request on its own, the way `generate()` does; the new token ids."""
    prompt = prompt_tensor(model, input_ids)  # [1, prompt]
    rows = prompt.expand(stepper.prefill_rows, -1)  # [prefill_rows, prompt]
    step = forward(model, rows, hidden=stepper.needs_hidden)
    decision = stepper.begin(prompt[0].tolist(), step.logits, step.hidden)
    while not decision.done:
        if decision.parents is not None:
            step.cache.reorder_cache(torch.tensor(decision.parents, device=prompt.device))
        inputs = prompt.new_tensor(decision.inputs).view(-1, 1)  # [rows, 1]
        step = forward(model, inputs, step.cache, hidden=stepper.needs_hidden)
        decision = stepper.advance(step.logits, step.hidden)
    return decision.tokens
