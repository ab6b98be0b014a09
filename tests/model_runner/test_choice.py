"""Greedy and sampling rows choose their tokens together and get what each would alone."""

from __future__ import annotations

import torch

from model_runner.decoding.choice import RowState, TokenRule, choose_tokens
from model_runner.decoding.processing import make_generator


def rules(seed_base: int) -> list[TokenRule]:
    return [
        TokenRule(),
        TokenRule(temperature=0.7, top_k=20, generator=make_generator(seed_base + 1)),
        TokenRule(no_repeat_ngram_size=2),
        TokenRule(top_p=0.9, generator=make_generator(seed_base + 2)),
        TokenRule(temperature=1.5, top_k=5, top_p=0.8, generator=make_generator(seed_base + 3)),
        TokenRule(generator=make_generator(seed_base + 4)),
    ]


def states(row_rules: list[TokenRule]) -> list[RowState]:
    texts = [[1, 2, 3, 1, 2], [4, 5], [7, 8, 7], [9], [3, 3, 3], [2, 1]]
    return [
        RowState(rule, texts[i], ban_end=0 if i % 2 else None) for i, rule in enumerate(row_rules)
    ]


def test_rows_together_choose_what_each_chooses_alone():
    torch.manual_seed(0)
    logits = torch.randn(6, 300) * 4
    logits[2, 8] = 50.0  # row 2's text "7 8 7" bans 8 (the 2-gram "7 8" again)
    for step in range(5):
        together = choose_tokens(logits, states(rules(10 * step)))
        alone = [
            choose_tokens(logits[i : i + 1], [row])[0]
            for i, row in enumerate(states(rules(10 * step)))
        ]
        assert together == alone
    assert together[2] != 8 and int(logits[2].argmax()) == 8
    ended = choose_tokens(
        torch.nn.functional.one_hot(torch.tensor([0]), 300).float() * 9,
        [RowState(TokenRule(), [5], ban_end=0)],
    )
    assert ended[0] != 0  # the end of text is banned before min_new_tokens


def test_a_row_whose_distribution_breaks_fails_alone():
    torch.manual_seed(1)
    logits = torch.randn(3, 100)
    logits[1] = float("nan")
    row_rules = [TokenRule(generator=make_generator(s)) for s in (1, 2, 3)]
    chosen = choose_tokens(logits, [RowState(rule, [1], None) for rule in row_rules])
    assert isinstance(chosen[1], RuntimeError)
    fresh = [TokenRule(generator=make_generator(s)) for s in (1, 3)]
    alone = [
        choose_tokens(logits[i : i + 1], [RowState(rule, [1], None)])[0]
        for i, rule in zip((0, 2), fresh, strict=True)
    ]
    assert [chosen[0], chosen[2]] == alone
