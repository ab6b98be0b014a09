"""The one-row methods' token choice (greedy search, random sampling), for many rows at once.

Each row has its own rule: its n-gram ban, its end-of-text ban before `min_new_tokens`, and
for sampling its temperature, top-k, top-p and random stream. The bans are looked up per row
(only rows that have one), then every greedy row takes its argmax in one call and every
sampling row's distribution is reshaped in one call with per-row settings, the way TGI's
heterogeneous chooser does it; only the draw is per row, from that row's own generator. A
row alone (`run_solo`) goes through the same code with one row, so it gets the same token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model_runner.decoding.processing import (
    banned_ngram_tokens,
    draw_tokens,
    greedy_tokens,
    sampling_probs,
    take_rows,
)


@dataclass(frozen=True)
class TokenRule:
    """How one row picks its next token: greedy search when `generator` is None."""

    no_repeat_ngram_size: int = 0
    temperature: float = 1.0
    top_k: int = 0  # 0 keeps every token
    top_p: float = 1.0
    generator: torch.Generator | None = None


@dataclass(frozen=True)
class RowState:
    """What a row's choice depends on besides its logits."""

    rule: TokenRule
    tokens: Sequence[int]  # the text so far, prompt included (for the n-gram ban)
    ban_end: int | None  # the end-of-text token while it is banned (min_new_tokens), or None


def choose_tokens(logits: torch.Tensor, rows: Sequence[RowState]) -> list[int | Exception]:
    """Each row's next token from float32 `logits` [rows, vocab]; a row whose draw failed
    (its distribution holds NaN) gets the error instead, and the other rows are unaffected."""
    scores = logits
    banned = [_banned(row) for row in rows]
    if any(banned):
        scores = logits.clone()  # [rows, vocab]
        for index, tokens in enumerate(banned):
            if tokens:
                scores[index, tokens] = -float("inf")
    chosen: list[int | Exception] = [0] * len(rows)
    greedy = [i for i, row in enumerate(rows) if row.rule.generator is None]
    if greedy:
        picks = greedy_tokens(take_rows(scores, greedy)).tolist()
        for index, token in zip(greedy, picks, strict=True):
            chosen[index] = token
    sampled = [i for i, row in enumerate(rows) if row.rule.generator is not None]
    if sampled:
        rules = [rows[i].rule for i in sampled]
        generators = [rule.generator for rule in rules if rule.generator is not None]
        probs = sampling_probs(
            take_rows(scores, sampled),
            [rule.temperature for rule in rules],
            [rule.top_k for rule in rules],
            [rule.top_p for rule in rules],
        )  # [sampled, vocab]
        for position, (index, generator) in enumerate(zip(sampled, generators, strict=True)):
            try:
                draw = draw_tokens(probs[position : position + 1], generator)
                chosen[index] = int(draw[0])
            except RuntimeError as error:  # NaN or inf in this row's distribution
                chosen[index] = error
    return chosen


def _banned(row: RowState) -> list[int]:
    tokens = banned_ngram_tokens(row.tokens, row.rule.no_repeat_ngram_size)
    if row.ban_end is not None:
        tokens.append(row.ban_end)
    return tokens
