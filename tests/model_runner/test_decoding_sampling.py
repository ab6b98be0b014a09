"""Sampling is reproducible per seed and draws from the truncated, tempered distribution."""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch

from model_runner.decoding.processing import draw_tokens, make_generator, sampling_probs
from model_runner.decoding.sampling import sample
from model_runner.tiny import build_tiny

PROMPT = "Once upon a time"
DRAWS = 20_000


@cache
def tiny():
    model, tokenizer = build_tiny(seed=0)
    return model, tokenizer.encode(PROMPT)


def run(seed, **options) -> list[int]:
    model, prompt = tiny()
    settings = {"temperature": 1.0, "top_k": 50, "top_p": 1.0} | options
    return sample(model, prompt, max_new_tokens=15, eos_token_id=None, seed=seed, **settings)


def test_same_seed_same_tokens_whatever_else_runs():
    first = run(1234)
    run(99)  # another request in between
    torch.manual_seed(0)
    torch.rand(1000)  # someone else uses the global stream
    assert run(1234) == first
    assert len(first) == 15


def test_sampling_leaves_the_global_random_stream_alone():
    state = torch.random.get_rng_state()
    run(7)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_different_seeds_give_different_tokens():
    outputs = {tuple(run(seed)) for seed in range(6)}
    assert len(outputs) >= 5


def test_no_seed_is_random_each_time():
    assert run(None) != run(None)


def test_cold_top_k_1_is_greedy():
    model, prompt = tiny()
    from model_runner.decoding.greedy import greedy_search

    greedy = greedy_search(model, prompt, max_new_tokens=15, eos_token_id=None)
    assert run(5, top_k=1) == greedy
    assert run(6, top_p=1e-6) == greedy  # top-p always keeps the most likely token


def expected_distribution(logits: list[float], temperature: float, top_k: int, top_p: float):
    """Written out from the definitions, in float64: what the sampler should draw from."""
    scaled = [x / temperature for x in logits]
    order = sorted(range(len(scaled)), key=lambda i: -scaled[i])
    kept = order[:top_k] if top_k else order
    peak = max(scaled)
    weights = {i: math.exp(scaled[i] - peak) for i in kept}
    total = sum(weights.values())
    nucleus, mass = [], 0.0
    for i in kept:  # most likely first, until the mass reaches top_p
        nucleus.append(i)
        mass += weights[i] / total
        if mass >= top_p:
            break
    norm = sum(weights[i] for i in nucleus)
    return [weights[i] / norm if i in nucleus else 0.0 for i in range(len(logits))]


LOGITS = [2.0, 1.5, 1.0, 0.6, 0.3, 0.0, -0.4, -1.0, -1.7, -3.0]


# Every top_p sits at least 0.03 from a cumulative-mass boundary, so rounding cannot move it.
@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [(1.0, 0, 1.0), (1.0, 4, 1.0), (0.5, 0, 0.8), (2.0, 6, 0.85), (1.3, 0, 0.45), (0.7, 3, 0.95)],
)
def test_draw_frequencies_match_the_truncated_softmax(temperature, top_k, top_p):
    expected = expected_distribution(LOGITS, temperature, top_k, top_p)
    logits = torch.tensor([LOGITS]).expand(DRAWS, -1)  # one row per single-step draw
    probs = sampling_probs(logits, temperature, top_k, top_p)  # [draws, vocab]
    assert torch.allclose(probs[0].double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6)

    tokens = draw_tokens(probs, make_generator(2024))  # [draws]
    counts = torch.bincount(tokens, minlength=len(LOGITS)).tolist()
    chi_square = 0.0
    for token, (p, count) in enumerate(zip(expected, counts, strict=True)):
        if p == 0.0:
            assert count == 0, f"token {token} is outside top-k/top-p but was drawn"
            continue
        assert abs(count / DRAWS - p) < 5 * math.sqrt(p * (1 - p) / DRAWS) + 1e-9, token
        chi_square += (count - DRAWS * p) ** 2 / (DRAWS * p)
    degrees = sum(p > 0 for p in expected) - 1
    # Wilson-Hilferty: the chi-square quantile for an upper tail of about 1e-4 (z = 3.72).
    critical = degrees * (1 - 2 / (9 * degrees) + 3.72 * math.sqrt(2 / (9 * degrees))) ** 3
    assert chi_square < critical if degrees else chi_square == 0.0


def test_per_row_generators_give_each_row_its_own_stream():
    probs = torch.full((3, 50), 1 / 50)
    alone = [draw_tokens(probs[:1], make_generator(seed))[0] for seed in (1, 2, 3)]
    together = draw_tokens(probs, [make_generator(seed) for seed in (1, 2, 3)])
    assert together.tolist() == [int(t) for t in alone]
