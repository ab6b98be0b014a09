"""Beam requests stepped together (beam.beams_together): each gets exactly the step it takes
alone, and in the engine a burst of beam requests (plain, banned, of other widths) still
gets each request's tokens alone while the plain ones go through the shared calls."""

from __future__ import annotations

import pytest
import torch

from model_runner.decoding import beam
from model_runner.decoding.beam import BeamStepper, beams_together
from tests.model_runner.test_row_batch import alone, decode_all

VOCAB = 300


def begun(seed: int, beams: int = 4, **settings) -> BeamStepper:
    stepper = BeamStepper(max_new_tokens=6, eos_token_id=7, num_beams=beams, **settings)
    logits = torch.randn(beams, VOCAB, generator=torch.Generator().manual_seed(seed)) * 4
    stepper.begin([1, 2, 3], logits)
    return stepper


def test_each_request_takes_the_step_it_takes_alone():
    together = [begun(seed) for seed in range(3)]
    apart = [begun(seed) for seed in range(3)]
    generator = torch.Generator().manual_seed(9)
    for _ in range(6):
        live = [i for i, s in enumerate(apart) if s.cur_len < s.max_len]
        if not live:
            break
        logits = torch.randn(4 * len(live), VOCAB, generator=generator) * 4
        logits[:, 7] += 2  # the end of text often among the best: finished hypotheses too
        got = beams_together([together[i] for i in live], logits)
        for position, i in enumerate(live):
            want = apart[i].advance(logits[4 * position : 4 * position + 4])
            assert got[position] == want
            assert torch.equal(together[i].running_scores, apart[i].running_scores)
            assert torch.equal(together[i].finished_scores, apart[i].finished_scores)
        for i in reversed(live):
            if got[live.index(i)].done:
                together.pop(i), apart.pop(i)


def test_steps_with_a_ban_or_another_width_are_refused():
    with pytest.raises(ValueError):
        beams_together([begun(0), begun(1, no_repeat_ngram_size=2)], torch.zeros(8, VOCAB))
    with pytest.raises(ValueError):
        beams_together([begun(0), begun(1, beams=3)], torch.zeros(7, VOCAB))
    early = begun(2, min_new_tokens=4)  # the end of text still banned
    assert not early.plain_step and begun(3).plain_step


def test_a_burst_of_beams_gets_its_tokens_alone_through_the_shared_calls(gpt2, monkeypatch):
    widths: list[list[int]] = []
    original = beam.beams_together

    def counted(steppers, logits):
        widths.append([s.num_beams for s in steppers])
        return original(steppers, logits)

    monkeypatch.setattr("model_runner.engine.engine.beams_together", counted)
    settings = [
        {"method": "beam", "num_beams": 4},
        {"method": "beam", "num_beams": 3},
        {"method": "beam", "num_beams": 4, "no_repeat_ngram_size": 2},
        {"method": "beam", "num_beams": 4, "min_new_tokens": 6},
        {"method": "greedy"},
    ]
    prompts = [[5, 6, 7], list(range(20, 44)), [9, 10, 11, 12]]
    cases = [(prompts[i % 3], settings[i % 5], 8 + 3 * i) for i in range(10)]
    got, _ = decode_all(gpt2, cases, stagger_steps=3)
    assert got == [alone(gpt2, *case) for case in cases]
    assert any(len(group) > 1 for group in widths)  # requests stepped together
    assert all(len(set(group)) == 1 for group in widths)  # of one width each


def test_when_the_shared_calls_fail_each_request_steps_alone(gpt2, monkeypatch):
    def broken(steppers, logits):
        raise RuntimeError("shared calls failed")

    monkeypatch.setattr("model_runner.engine.engine.beams_together", broken)
    settings = {"method": "beam", "num_beams": 3}
    cases = [([5, 6, 7], settings, 10), ([9, 10, 11, 12], settings, 12)]
    got, _ = decode_all(gpt2, cases)
    assert got == [alone(gpt2, *case) for case in cases]
