"""Per-step logit processing matches transformers' processors, row by row."""

from __future__ import annotations

import pytest
import torch
from transformers.generation.logits_process import (
    NoRepeatNGramLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from model_runner.decoding.processing import (
    apply_temperature,
    ban_repeated_ngrams,
    banned_ngram_tokens,
    greedy_tokens,
    sampling_probs,
    top_k_filter,
    top_p_filter,
)

VOCAB = 40


def random_logits(rows: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, VOCAB, generator=generator) * 3  # [rows, vocab]


def test_banned_ngram_tokens_examples():
    assert banned_ngram_tokens([1, 2, 3, 1, 2], 3) == [3]  # "1 2" was followed by 3
    assert banned_ngram_tokens([1, 2, 1, 5, 1], 2) == [2, 5]
    assert banned_ngram_tokens([4, 4, 7], 1) == [4, 4, 7]  # size 1: no token twice
    assert banned_ngram_tokens([1, 2], 4) == []  # too short to repeat a 4-gram
    assert banned_ngram_tokens([1, 2, 1], 0) == []  # off


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_ngram_ban_equals_transformers(size):
    generator = torch.Generator().manual_seed(size)
    sequences = torch.randint(0, 6, (8, 15), generator=generator)  # small alphabet: many repeats
    scores = random_logits(8, size)
    expected = NoRepeatNGramLogitsProcessor(size)(sequences, scores.clone())
    got = ban_repeated_ngrams(scores, sequences.tolist(), size)
    assert torch.equal(got, expected)
    assert torch.isinf(got).any()


def test_per_row_warpers_equal_transformers_row_by_row():
    logits = random_logits(6, 0)
    temperatures = [0.05, 0.7, 1.0, 1.3, 2.0, 5.0]
    top_ks = [0, 1, 3, 10, 40, 50]
    top_ps = [1.0, 0.9, 0.5, 0.99, 0.1, 0.3]
    hot = apply_temperature(logits, temperatures)
    top_k = top_k_filter(logits, top_ks)
    top_p = top_p_filter(logits, top_ps)
    for row in range(6):
        one = logits[row : row + 1]
        assert torch.equal(hot[row], TemperatureLogitsWarper(temperatures[row])(None, one)[0])
        expected_k = TopKLogitsWarper(top_ks[row])(None, one)[0] if top_ks[row] else one[0]
        assert torch.equal(top_k[row], expected_k)
        expected_p = TopPLogitsWarper(top_ps[row])(None, one)[0] if top_ps[row] < 1 else one[0]
        assert torch.equal(top_p[row], expected_p)


def test_top_k_keeps_ties_and_top_p_keeps_the_best_token():
    logits = torch.tensor([[3.0, 1.0, 3.0, 2.0, 3.0]])
    assert torch.isfinite(top_k_filter(logits, 2)).tolist() == [[True, False, True, False, True]]
    peaked = torch.tensor([[10.0, 0.0, 0.0]])
    assert torch.isfinite(top_p_filter(peaked, 0.01)).tolist() == [[True, False, False]]


def test_sampling_probs_is_transformers_order_then_softmax():
    logits = random_logits(4, 1)
    temperature, top_k, top_p = 0.8, 12, 0.9
    expected = logits
    for warper in (
        TemperatureLogitsWarper(temperature),
        TopKLogitsWarper(top_k),
        TopPLogitsWarper(top_p),
    ):
        expected = warper(None, expected)
    probs = sampling_probs(logits, temperature, top_k, top_p)
    assert torch.equal(probs, expected.softmax(dim=-1))
    assert torch.allclose(probs.sum(dim=-1), torch.ones(4))


def test_greedy_takes_the_first_best():
    scores = torch.tensor([[0.0, 2.0, 2.0, -1.0], [5.0, 1.0, 5.0, 0.0]])
    assert greedy_tokens(scores).tolist() == [1, 0]
