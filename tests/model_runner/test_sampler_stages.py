"""The sampler, stage by stage: what temperature, top-k and top-p each do to the next-token
distribution, and the token drawn, which replays as /generate's first sampled token."""

from __future__ import annotations

import math

import pytest

from model_runner.protocol import (
    DecodingParams,
    Generate,
    InvalidRequest,
    NextToken,
    SamplerStages,
)
from tests.model_runner.test_operations import embedded, http_server, over_http  # noqa: F401

PROMPT = "The best thing about AI is its ability to"


async def test_each_stage_keeps_fewer_tokens_and_renormalises(embedded):  # noqa: F811
    result = await embedded.call(
        SamplerStages(PROMPT, temperature=1.5, top_k=20, top_p=0.5, top=20)
    )
    assert result.stages == ["model", "temperature 1.5", "top-k 20", "top-p 0.5"]
    vocab, heated, top_k, top_p = result.kept
    assert vocab == heated > top_k == 20 >= top_p >= 1
    for candidate in result.candidates:
        model, warm, after_k, after_p = candidate.probabilities
        # A token a stage removed stays removed; the survivors share the freed mass.
        assert (after_k == 0) <= (after_p == 0)
        if after_k:
            assert after_k > warm
        if after_p:
            assert after_p >= after_k
    assert [c.probabilities[0] for c in result.candidates] == sorted(
        (c.probabilities[0] for c in result.candidates), reverse=True
    )
    # Some of the model's top tokens are cut by top-p 0.5 (the tiny model is nearly flat).
    assert any(c.probabilities[3] == 0 for c in result.candidates)


async def test_the_temperature_stage_is_what_next_token_shows(embedded):  # noqa: F811
    stages = await embedded.call(SamplerStages(PROMPT, temperature=0.7, top=5))
    shown = await embedded.call(NextToken(PROMPT, temperature=0.7, top=5))
    assert [c.id for c in stages.candidates] == [c.id for c in shown.candidates]
    for staged, plain in zip(stages.candidates, shown.candidates, strict=True):
        assert math.isclose(staged.probabilities[1], plain.probability, rel_tol=1e-4)


async def test_the_drawn_token_replays_as_generates_first_token(embedded, over_http):  # noqa: F811
    op = SamplerStages(PROMPT, temperature=1.2, top_k=30, top_p=0.9, seed=11)
    here, there = await embedded.call(op), await over_http.call(op)
    assert here.drawn == there.drawn and here.seed == there.seed == 11
    assert here.drawn.probabilities[-1] > 0  # drawn from what the last stage kept
    params = DecodingParams(
        method="sampling", temperature=1.2, top_k=30, top_p=0.9, seed=11, max_new_tokens=3
    )
    generated = await embedded.call(Generate(PROMPT, params))
    assert generated.token_ids[0] == here.drawn.id
    # Without a seed the runner picks one and says which, so a classmate can replay it.
    fresh = await embedded.call(SamplerStages(PROMPT, temperature=1.2, top_k=30, top_p=0.9))
    again = await embedded.call(
        SamplerStages(PROMPT, temperature=1.2, top_k=30, top_p=0.9, seed=fresh.seed)
    )
    assert again.drawn.id == fresh.drawn.id


async def test_turned_off_stages_change_nothing(embedded):  # noqa: F811
    result = await embedded.call(SamplerStages(PROMPT, temperature=1.0, top_k=0, top_p=1.0))
    assert result.stages == ["model", "temperature 1", "top-k off", "top-p off"]
    assert len(set(result.kept)) == 1
    for candidate in result.candidates:
        assert max(candidate.probabilities) - min(candidate.probabilities) < 1e-6


@pytest.mark.parametrize(
    "kwargs, field, words",
    [
        ({"top_p": 0}, "top_p", "greater than 0"),
        ({"top_k": 5000}, "top_k", "between 0 and 1000"),
        ({"temperature": 0}, "temperature", "between 0.05 and 5"),
        ({"seed": -1}, "seed", "between 0 and"),
    ],
)
def test_bad_settings_name_the_field(kwargs, field, words):
    with pytest.raises(InvalidRequest) as caught:
        SamplerStages(PROMPT, **kwargs)
    assert caught.value.field == field and words in str(caught.value)
