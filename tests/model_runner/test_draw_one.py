"""The quick one-token draw is torch.multinomial's draw exactly: the same token and the same
random stream afterwards, for the distributions sampling makes (top-k, top-p, temperature)."""

from __future__ import annotations

import pytest
import torch

from model_runner.decoding import processing, stream
from model_runner.decoding.processing import draw_one, exponential_variates, sampling_probs

VOCAB = 20_000  # at least processing.MIN_VOCAB: draw_one's own way


@pytest.fixture(autouse=True, params=["loop", "uniform_"])
def uniforms(request, monkeypatch):
    """Every test both ways the uniforms are drawn: decoding/stream.py's loop (skipped where
    it cannot be built) and uniform_ over the whole vocabulary."""
    if request.param == "uniform_":
        monkeypatch.setattr(stream.LOOP, "_built", [None])
    elif stream.LOOP.function() is None:
        pytest.skip("the uniforms' loop cannot be built here")


def reference(probs: torch.Tensor, seed: int) -> tuple[int, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    token = int(torch.multinomial(probs[None], 1, generator=generator))
    return token, generator.get_state()


def quick(probs: torch.Tensor, seed: int) -> tuple[int, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    token = int(draw_one(probs, generator))
    return token, generator.get_state()


def distributions():
    logits = torch.randn(4, VOCAB, generator=torch.Generator().manual_seed(7)) * 3
    settings = [(1.0, 50, 1.0), (0.7, 0, 0.9), (1.5, 200, 0.95), (1.0, 1, 1.0)]
    for row, (temperature, top_k, top_p) in zip(logits, settings, strict=True):
        yield sampling_probs(row[None], temperature, top_k, top_p)[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_variates_are_the_exponential_kernels_to_the_last_bit(dtype):
    generator = torch.Generator().manual_seed(11)
    expected = torch.empty(20_000, dtype=dtype).exponential_(generator=generator)
    generator.manual_seed(11)
    uniforms = torch.empty(20_000, dtype=torch.float64).uniform_(generator=generator)
    assert torch.equal(exponential_variates(uniforms, dtype), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_token_and_stream_as_multinomial(dtype):
    for probs in distributions():
        probs = probs.to(dtype)
        for seed in range(40):
            token, state = quick(probs, seed)
            expected, expected_state = reference(probs, seed)
            assert token == expected
            assert torch.equal(state, expected_state)  # the next draw is the same too


def test_the_quick_way_is_taken_when_few_tokens_are_in_play(monkeypatch):
    calls = []
    real = torch.multinomial
    monkeypatch.setattr(torch, "multinomial", lambda *a, **k: calls.append(1) or real(*a, **k))
    probs = next(distributions())  # top-k 50
    draw_one(probs, torch.Generator().manual_seed(0))
    assert calls == []
    draw_one(torch.full((VOCAB,), 1 / VOCAB), torch.Generator().manual_seed(0))
    assert calls == [1]  # every token in play: multinomial's own way
    small = torch.zeros(512)
    small[:5] = 0.2
    draw_one(small, torch.Generator().manual_seed(0))
    assert calls == [1, 1]  # a small vocabulary: multinomial's own way is quicker


def test_a_draw_in_inference_mode_leaves_later_draws_working():
    probs = torch.cat((next(distributions()), torch.zeros(1)))  # a size not drawn before
    with torch.inference_mode():  # where the buffer for it is made
        first = quick(probs, 4)
    assert quick(probs, 4)[0] == first[0] == reference(probs, 4)[0]  # outside the mode too


def test_many_tokens_in_play_still_match():
    probs = torch.rand(VOCAB, generator=torch.Generator().manual_seed(3))
    probs[::7] = 0  # more than one token in KEPT_SHARE left: multinomial's way
    assert (probs > 0).sum() > VOCAB // processing.KEPT_SHARE
    for seed in range(5):
        (token, state), (expected, expected_state) = quick(probs, seed), reference(probs, seed)
        assert token == expected and torch.equal(state, expected_state)


def test_ratios_that_all_underflow_give_multinomials_token():
    # One token with the smallest float32 probability: its ratio underflows to 0 whenever the
    # variate is at least 2, and multinomial then returns the first zero ratio's token, 0.
    probs = torch.zeros(processing.MIN_VOCAB)
    probs[5] = torch.finfo(torch.float32).smallest_normal / 2**23  # the smallest subnormal
    outcomes = set()
    for seed in range(40):
        token, state = quick(probs, seed)
        expected, expected_state = reference(probs, seed)
        assert token == expected and torch.equal(state, expected_state)
        outcomes.add(token)
    assert outcomes == {0, 5}  # both cases occurred


@pytest.mark.parametrize(
    "values",
    [[0.5, float("nan"), 0.5], [0.5, -0.1, 0.6], [0.0, 0.0, 0.0], [1.0, float("inf"), 0.0], []],
)
def test_invalid_distributions_raise_multinomials_error(values):
    probs = torch.tensor(values) if values else torch.zeros(0)
    with pytest.raises(RuntimeError) as expected:
        torch.multinomial(probs[None], 1, generator=torch.Generator().manual_seed(0))
    with pytest.raises(RuntimeError) as raised:
        draw_one(probs, torch.Generator().manual_seed(0))
    assert str(raised.value) == str(expected.value)


def test_more_categories_than_multinomial_allows_raise_its_error():
    probs = torch.zeros(processing.MAX_CATEGORIES + 1)
    probs[3] = 1.0
    with pytest.raises(RuntimeError) as expected:
        torch.multinomial(probs[None], 1, generator=torch.Generator().manual_seed(0))
    with pytest.raises(RuntimeError) as raised:
        draw_one(probs, torch.Generator().manual_seed(0))
    assert str(raised.value) == str(expected.value)
