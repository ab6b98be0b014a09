"""Step-through generation on the runner: the candidates at a step, and each method's pick,
which is exactly the token that method writes in /generate with the same text and settings."""

from __future__ import annotations

import math

import pytest
import torch

from model_runner.protocol import (
    DecodingParams,
    Generate,
    InvalidRequest,
    NextToken,
    StepCandidates,
)
from model_runner.protocol.limits import STEP_TOKENS_MAX
from model_runner.stepthrough import StepProbe
from model_runner.tiny import build_tiny
from tests.model_runner.test_operations import embedded, http_server, over_http  # noqa: F401

PROMPT = "The best thing about AI is its ability to"
CONTRASTIVE = DecodingParams(method="contrastive", penalty_alpha=0.6, top_k=4)


async def stepped(client, params: DecodingParams, steps: int, adapter=None) -> list[int]:
    """The tokens of `steps` steps, each letting `params`' method pick."""
    chosen: list[int] = []
    for _ in range(steps):
        result = await client.call(StepCandidates(PROMPT, chosen, adapter, params=params))
        chosen.append(result.pick.token.id)
    return chosen


async def generated(client, params: DecodingParams, steps: int, adapter=None) -> list[int]:
    params = DecodingParams(**{**params.to_dict(), "max_new_tokens": steps})
    return (await client.call(Generate(PROMPT, params, adapter))).token_ids


async def test_the_candidates_are_the_models_likeliest_next_tokens(embedded):  # noqa: F811
    step = await embedded.call(StepCandidates(PROMPT, top=5))
    shown = await embedded.call(NextToken(PROMPT, top=5))
    assert [c.id for c in step.candidates] == [c.id for c in shown.candidates]
    for ours, theirs in zip(step.candidates, shown.candidates, strict=True):
        assert math.isclose(ours.probability, theirs.probability, rel_tol=1e-4)
    assert step.pick is None and step.text == "" and step.chosen == []
    assert step.end_of_text == 0  # tiny's <|endoftext|>
    assert step.compute_ms > 0 and step.model == "tiny"


async def test_greedy_picks_what_generate_writes_token_after_token(embedded):  # noqa: F811
    greedy = DecodingParams(method="greedy")
    first = await embedded.call(StepCandidates(PROMPT, params=greedy))
    assert first.pick.method == "greedy"
    assert first.pick.token.id == first.candidates[0].id  # the highest probability
    assert first.pick.token.probability == first.candidates[0].probability
    assert await stepped(embedded, greedy, 6) == await generated(embedded, greedy, 6)


async def test_contrastive_picks_what_contrastive_search_writes(embedded):  # noqa: F811
    tokens = await stepped(embedded, CONTRASTIVE, 6)
    assert tokens == await generated(embedded, CONTRASTIVE, 6)
    # Not simply the likeliest token each time: the penalty changed some choice.
    greedy = await generated(embedded, DecodingParams(method="greedy"), 6)
    assert tokens != greedy


async def test_contrastive_shows_each_candidates_probability_penalty_and_score(embedded):  # noqa: F811
    step = await embedded.call(StepCandidates(PROMPT, [265, 42], params=CONTRASTIVE))
    pick = step.pick
    assert pick.method == "contrastive" and pick.penalty_alpha == 0.6
    assert pick.params == {
        "penalty_alpha": 0.6,
        "top_k": 4,
        "no_repeat_ngram_size": 0,
        "min_new_tokens": 0,
    }
    assert len(pick.scored) == 4
    assert [c.id for c in pick.scored] == [c.id for c in step.candidates[:4]]
    for candidate in pick.scored:
        assert -1.0 <= candidate.penalty <= 1.0
        expected = 0.4 * candidate.probability - 0.6 * candidate.penalty
        assert math.isclose(candidate.score, expected, rel_tol=1e-5, abs_tol=1e-7)
    best = max(pick.scored, key=lambda c: c.score)
    assert pick.token.id == best.id


async def test_alpha_zero_weighs_probability_alone(embedded):  # noqa: F811
    plain = DecodingParams(method="contrastive", penalty_alpha=0.0, top_k=4)
    step = await embedded.call(StepCandidates(PROMPT, params=plain))
    assert step.pick.token.id == step.candidates[0].id
    assert [c.score for c in step.pick.scored] == [c.probability for c in step.pick.scored]


async def test_sampling_with_a_seed_draws_generates_first_token(embedded, over_http):  # noqa: F811
    sampling = DecodingParams(method="sampling", temperature=1.3, top_k=30, top_p=0.9, seed=11)
    here = await embedded.call(StepCandidates(PROMPT, params=sampling))
    there = await over_http.call(StepCandidates(PROMPT, params=sampling))
    assert here.pick == there.pick and here.pick.seed == 11
    assert here.pick.token.id == (await generated(embedded, sampling, 3))[0]
    # Its probability where it was drawn from: after temperature, top-k 30 and top-p 0.9.
    assert here.pick.drawn_probability > here.pick.token.probability > 0
    # Without a seed the runner picks one and says which: it draws the same token again.
    fresh = await embedded.call(StepCandidates(PROMPT, params=DecodingParams(method="sampling")))
    replayed = DecodingParams(method="sampling", seed=fresh.pick.seed)
    again = await embedded.call(StepCandidates(PROMPT, params=replayed))
    assert fresh.pick.seed is not None and again.pick.token.id == fresh.pick.token.id


def test_min_new_tokens_holds_the_end_of_text_back_as_generate_does():
    _, tokenizer = build_tiny()
    eos = tokenizer.eos_token_id
    logits = torch.zeros(1, len(tokenizer))
    logits[0, eos], logits[0, 7] = 5.0, 4.0  # the model wants to end the text
    held = DecodingParams(method="greedy", min_new_tokens=3)
    picks = []
    for chosen in (2, 3):  # tokens written before this step
        probe = StepProbe(tokenizer, 5, held, chosen=chosen)
        assert probe.begin([1, 2], logits, None).done
        picks.append(probe.pick.token.id)
    assert picks == [7, eos]  # held back for the third token, allowed for the fourth
    assert probe.candidates[0].id == eos  # the candidates still show what the model wants


async def test_a_fine_tuned_model_steps_like_its_generate(tuned):
    greedy = DecodingParams(method="greedy")
    base = await tuned.call(StepCandidates(PROMPT))
    own = await tuned.call(StepCandidates(PROMPT, adapter="group-a-v1"))
    assert own.adapter == "group-a-v1"
    assert [c.probability for c in own.candidates] != [c.probability for c in base.candidates]
    for params in (greedy, CONTRASTIVE):
        assert await stepped(tuned, params, 4, "group-a-v1") == await generated(
            tuned, params, 4, "group-a-v1"
        )
    # The pre-trained model is unchanged by the adapter loaded beside it.
    again = await tuned.call(StepCandidates(PROMPT))
    assert [c.id for c in again.candidates] == [c.id for c in base.candidates]
    for before, after in zip(base.candidates, again.candidates, strict=True):
        assert math.isclose(before.probability, after.probability, rel_tol=1e-5)


@pytest.mark.parametrize(
    "kwargs, field, words",
    [
        ({"prompt": "   "}, "prompt", "must not be empty"),
        ({"prompt": "x" * 2001}, "prompt", "at most 2000 characters"),
        ({"chosen": [1] * STEP_TOKENS_MAX}, "chosen", f"at most {STEP_TOKENS_MAX - 1} tokens"),
        ({"chosen": [-1]}, "chosen", "token ids"),
        ({"chosen": ["a"]}, "chosen", "token ids"),
        ({"top": 11}, "top", "between 1 and 10"),
        ({"params": DecodingParams(method="beam")}, "method", "beam search keeps several"),
    ],
)
def test_bad_requests_name_the_field(kwargs, field, words):
    with pytest.raises(InvalidRequest) as caught:
        StepCandidates(**{"prompt": PROMPT, **kwargs})
    assert caught.value.field == field and words in str(caught.value)


async def test_the_runner_refuses_what_only_it_can_check(embedded):  # noqa: F811
    with pytest.raises(InvalidRequest, match="below 512") as caught:
        await embedded.call(StepCandidates(PROMPT, [9999]))
    assert caught.value.field == "chosen"
    # 1,000 tokens fit in tiny's 1,024 positions, but not with a whole step-through after them.
    with pytest.raises(InvalidRequest, match="too long for the model") as caught:
        await embedded.call(StepCandidates("🙂" * 250))
    assert caught.value.field == "prompt" and f"the {STEP_TOKENS_MAX} new ones" in str(caught.value)
