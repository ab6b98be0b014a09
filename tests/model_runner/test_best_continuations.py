"""Beam search's best continuations, found beam by beam, are the flat top-k's."""

from __future__ import annotations

import pytest
import torch

from model_runner.decoding.beam import NEG, best_continuations


@pytest.mark.parametrize("beams,vocab,keep", [(5, 50257, 10), (3, 512, 6), (4, 3, 8), (1, 9, 2)])
def test_they_equal_one_top_k_over_every_beam(beams, vocab, keep):
    generator = torch.Generator().manual_seed(beams * vocab)
    totals = torch.randn(beams, vocab, generator=generator).log_softmax(dim=-1)
    totals += torch.randn(beams, 1, generator=generator) * 3  # the beams' own scores
    scores, index = best_continuations(totals, keep)
    want_scores, want_index = torch.topk(totals.reshape(-1), keep)
    assert torch.equal(scores, want_scores)
    assert torch.equal(index, want_index)


def test_the_best_may_all_come_from_one_beam():
    totals = torch.full((5, 100), -50.0)
    totals[3, 10:30] = torch.arange(20, dtype=torch.float32)  # beam 3 holds the 20 best
    scores, index = best_continuations(totals, 10)
    assert index.tolist() == [3 * 100 + 29 - i for i in range(10)]
    assert scores.tolist() == [19.0 - i for i in range(10)]


def test_a_first_step_keeps_the_first_beam_only():
    # All beams hold the prompt; only the first may extend (the others start at NEG).
    row = torch.randn(1, 64, generator=torch.Generator().manual_seed(3)).log_softmax(dim=-1)
    totals = row.repeat(5, 1) + torch.tensor([0.0, NEG, NEG, NEG, NEG])[:, None]
    scores, index = best_continuations(totals, 10)
    assert (index < 64).all()
    assert torch.equal(scores, torch.topk(row[0], 10).values)
