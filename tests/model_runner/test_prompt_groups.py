"""Prompts of unlike length are prefilled in separate passes (no short prompt padded to the
longest), with the buffers laid out once for all of them, and every request gets its tokens."""

from __future__ import annotations

import itertools
import random
import time

import pytest
import torch

from model_runner.decoding.run import generate, stepper_for
from model_runner.engine.batch import RowBatch
from model_runner.engine.engine import DecodeEngine, DecodeJob
from model_runner.engine.prompt_groups import pass_cost, prompt_groups
from model_runner.protocol import DecodingParams
from model_runner.tiny import build_tiny
from tests.model_runner.test_fault_isolation import engine_thread


def cost(lengths: list[int], groups: list[list[int]], per_pass: int) -> int:
    return sum(len(g) * max(lengths[i] for i in g) + per_pass for g in groups)


def cheapest(lengths: list[int], per_pass: int) -> int:
    """By trying every way to cut the sorted lengths."""
    ranked = sorted(lengths)
    best = None
    for cuts in itertools.product([False, True], repeat=len(ranked) - 1):
        total, start = 0, 0
        for end, cut in enumerate([*cuts, True], start=1):
            if cut:
                total += (end - start) * ranked[end - 1] + per_pass
                start = end
        best = total if best is None else min(best, total)
    return best


def test_the_groups_are_the_cheapest_cut():
    chance = random.Random(5)
    for _ in range(200):
        lengths = [chance.randint(1, 60) for _ in range(chance.randint(1, 9))]
        per_pass = chance.choice([0, 8, 32, 500])
        groups = prompt_groups(lengths, per_pass)
        assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
        assert cost(lengths, groups, per_pass) == cheapest(lengths, per_pass)


def test_one_long_prompt_gets_a_pass_of_its_own_on_a_cpu():
    lengths = [10] * 31 + [200]
    groups = prompt_groups(lengths, pass_cost(torch.device("cpu")))
    assert groups == [list(range(31)), [31]]
    assert prompt_groups([12, 12, 13], pass_cost(torch.device("cpu"))) == [[0, 1, 2]]
    shorter = [10] * 31 + [100]  # on a GPU padding is cheap next to a pass
    assert prompt_groups(shorter, pass_cost(torch.device("cuda"))) == [list(range(32))]


SETTINGS = [
    {"method": "greedy"},
    {"method": "beam", "num_beams": 3},
    {"method": "contrastive", "penalty_alpha": 0.6, "top_k": 3},
    {"method": "sampling", "seed": 3, "top_k": 8},
]


def test_unlike_prompts_joining_together_are_prefilled_apart(monkeypatch):
    model, tokenizer = build_tiny(seed=1)
    chance = random.Random(2)
    vocab = model.config.vocab_size
    prompts = [[chance.randrange(vocab) for _ in range(n)] for n in (3, 4, 3, 5, 4, 90, 88)]
    cases = [
        (prompt, DecodingParams(max_new_tokens=6, **SETTINGS[i % 4]))
        for i, prompt in enumerate(prompts)
    ]
    layouts = []
    for name in ("_allocate", "_relayout"):
        real = getattr(RowBatch, name)
        monkeypatch.setattr(
            RowBatch,
            name,
            lambda self, *a, real=real, name=name: layouts.append(name) or real(self, *a),
        )
    engine = DecodeEngine(model, torch.device("cpu"), queue_size=16, max_rows=64)
    jobs = [DecodeJob(prompt, stepper_for(params, None, None, "cpu")) for prompt, params in cases]
    for job in jobs:  # all waiting before the engine starts: they join in one round
        engine.submit(job)
    with engine_thread(engine):
        results = [job.future.result(timeout=120).tokens for job in jobs]
    assert results == [generate(model, prompt, params, None, None) for prompt, params in cases]
    assert engine.prefill_positions == sum(len(p) for p in prompts)
    assert engine.prefill_padded == 5 * 5 + 2 * 90  # two passes, not 7 x 90 positions
    assert layouts == ["_allocate"]  # laid out once, for the long prompts too


@pytest.mark.parametrize("lengths", [[2, 3, 300, 310, 1, 150], [300, 302, 301]])
def test_a_round_joining_decoding_rows_is_laid_out_once_for_both(monkeypatch, lengths):
    model, _ = build_tiny(seed=1)
    chance = random.Random(4)
    vocab = model.config.vocab_size

    def prompt(n: int) -> list[int]:
        return [chance.randrange(vocab) for _ in range(n)]

    running = [(prompt(20), DecodingParams(max_new_tokens=40, **SETTINGS[i])) for i in (0, 1)]
    joining = [
        (prompt(n), DecodingParams(max_new_tokens=8, **SETTINGS[i % 4]))
        for i, n in enumerate(lengths)
    ]
    layouts = []
    real = RowBatch._relayout
    monkeypatch.setattr(RowBatch, "_relayout", lambda self, *a: layouts.append(a) or real(self, *a))
    engine = DecodeEngine(model, torch.device("cpu"), queue_size=64, max_rows=128)
    first = [DecodeJob(p, stepper_for(params, None, None, "cpu")) for p, params in running]
    later = [DecodeJob(p, stepper_for(params, None, None, "cpu")) for p, params in joining]
    for job in first:
        engine.submit(job)
    with engine_thread(engine):
        while engine.steps < 3:
            time.sleep(0.001)
        # Between two steps: the whole round is waiting when the engine next admits.
        engine.call(lambda: [engine.submit(job) for job in later]).result(timeout=60)
        results = [job.future.result(timeout=120).tokens for job in first + later]
    expected = [generate(model, p, params, None, None) for p, params in running + joining]
    assert results == expected
    assert len(layouts) == 1  # at the join, with the columns the decoding rows still need


def test_a_prompt_that_fits_alone_is_not_failed_by_the_rounds_layout(monkeypatch):
    real = RowBatch._buffer

    def refusing(self, shape, dtype, flat=None):  # memory for 1,100 columns at most
        if shape[3] > 1100:
            raise RuntimeError(f"out of memory for {shape[3]} columns")
        return real(self, shape, dtype, flat)

    monkeypatch.setattr(RowBatch, "_buffer", refusing)
    model, _ = build_tiny(seed=1)
    engine = DecodeEngine(model, torch.device("cpu"), queue_size=8, max_rows=16)
    long_prompt = DecodingParams(max_new_tokens=20)
    long_answer = DecodingParams(max_new_tokens=1000)  # with the long prompt: 2,000 columns
    jobs = [
        DecodeJob([5] * 1000, stepper_for(long_prompt, None, None, "cpu")),
        DecodeJob([6] * 3, stepper_for(long_answer, None, None, "cpu")),
    ]
    for job in jobs:
        engine.submit(job)
    with engine_thread(engine):
        tokens = [job.future.result(timeout=120).tokens for job in jobs]
    assert tokens == [
        generate(model, [5] * 1000, long_prompt, None, None),
        generate(model, [6] * 3, long_answer, None, None),
    ]
