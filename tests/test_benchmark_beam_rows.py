"""benchmarks/beam_rows.py compares like with like: every way finds the same continuations."""

from __future__ import annotations

import torch

from benchmarks.beam_rows import batched, one_pass, one_pass_per_request, per_request


def test_both_ways_find_every_requests_same_best_continuations():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 300, generator=generator) * 3  # 4 requests x 3 beams
    scores = torch.randn(12, generator=generator)
    alone = per_request(logits, scores, 3, 6)
    for way in (batched, one_pass, one_pass_per_request):
        together = way(logits, scores, 3, 6)
        assert len(alone) == len(together) == 4
        for one, other in zip(alone, together, strict=True):
            assert torch.equal(one, other)
    assert not torch.equal(alone[0], alone[1])  # (the requests' rows differ)
