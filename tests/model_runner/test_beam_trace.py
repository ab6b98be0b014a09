"""The beam trace (/beamtree): the search /generate runs with method beam, step by step, with
the same winner, beams that follow from their parents, and the hypotheses it finished."""

from __future__ import annotations

from dataclasses import replace

import pytest

from model_runner.beam_tree import BeamRecorder
from model_runner.decoding.beam import beam_search
from model_runner.protocol import (
    BeamTrace,
    BeamTraceResult,
    DecodingParams,
    Generate,
    InvalidRequest,
)
from tests.model_runner.test_decoding_reference import PAD, PROMPTS, model_and_prompts
from tests.model_runner.test_operations import embedded, http_server, over_http  # noqa: F401

PROMPT = "The best thing about AI is its ability to"
SETTINGS = [  # as /generate takes them: method beam and its options
    {"num_beams": 5, "max_new_tokens": 6},
    {"num_beams": 2, "max_new_tokens": 8},
    {"num_beams": 3, "max_new_tokens": 7, "length_penalty": 2.0},
    {"num_beams": 4, "max_new_tokens": 6, "no_repeat_ngram_size": 2},
    {"num_beams": 5, "max_new_tokens": 6, "min_new_tokens": 6},
]


def path_tokens(result: BeamTraceResult) -> list[int]:
    """The winner's tokens, read backwards through the trace's parent links alone."""
    winner = result.winner
    node = result.steps[winner.step - 1].candidates[winner.index]
    tokens = [node.id]
    for step in range(winner.step - 2, -1, -1):
        node = result.steps[step].beams[node.parent]
        tokens.append(node.id)
    return tokens[::-1]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
@pytest.mark.parametrize("prompt", [PROMPT, "Once upon a time"])
async def test_the_traced_winner_is_generates_beam_output(embedded, settings, prompt):  # noqa: F811
    params = DecodingParams(method="beam", **settings)
    traced = await embedded.call(BeamTrace(prompt, params))
    generated = await embedded.call(Generate(prompt, params))
    assert traced.winner.token_ids == generated.token_ids
    assert traced.winner.text == generated.text
    assert path_tokens(traced) == generated.token_ids
    assert traced.params == generated.params


async def test_each_step_keeps_num_beams_beams_that_extend_the_step_before(embedded):  # noqa: F811
    result = await embedded.call(BeamTrace(PROMPT, DecodingParams(method="beam", max_new_tokens=6)))
    assert len(result.steps) == 6 and result.stopped == "max_new_tokens"
    for number, step in enumerate(result.steps, 1):
        scores = [c.score for c in step.candidates]
        assert scores == sorted(scores, reverse=True) and len(scores) == 10  # 2 x num_beams
        before = result.steps[number - 2].beams if number > 1 else None
        for candidate in step.candidates:
            if before is None:
                assert candidate.parent == 0  # every beam starts as the prompt
            else:  # a token's log-probability is negative: a beam's score only falls
                assert candidate.score < before[candidate.parent].score
        if number < len(result.steps):
            assert [c.beam for c in step.beams] == [0, 1, 2, 3, 4]
            for rank, candidate in enumerate(step.candidates):
                # Before the limit only the end of text ends a text, among the 5 best.
                if candidate.fate == "finished":
                    assert rank < 5 and candidate.id == PAD and candidate.beam is None
                else:
                    assert candidate.fate in ("kept", "dropped")
    # The end of text finished a hypothesis early here (the tiny model's weights are fixed).
    assert any(c.fate == "finished" for step in result.steps[:-1] for c in step.candidates)
    # At the length limit every continuation ends: the best num_beams become hypotheses.
    last = result.steps[-1]
    assert [c.fate for c in last.candidates] == ["finished"] * 5 + ["dropped"] * 5
    assert last.beams == []
    finals = [h.score for h in result.hypotheses]
    assert finals == sorted(finals, reverse=True) and len(finals) == 5
    for hypothesis in result.hypotheses:
        ended = result.steps[hypothesis.step - 1].candidates[hypothesis.index]
        assert ended.fate == "finished" and ended.final_score == hypothesis.score
        assert hypothesis.score == pytest.approx(ended.score / len(hypothesis.token_ids))
        assert hypothesis.log_probability == ended.score


async def test_the_same_trace_over_http(embedded, over_http):  # noqa: F811
    op = BeamTrace(PROMPT, DecodingParams(method="beam", num_beams=3, max_new_tokens=5))
    here, there = await embedded.call(op), await over_http.call(op)
    assert isinstance(there, BeamTraceResult)
    assert there.steps == here.steps and there.hypotheses == here.hypotheses
    assert there.compute_ms > 0 and there.model == "tiny"


def test_a_search_that_settles_early_is_traced_to_its_winner():
    # The sharp tiny model with a stand-in EOS (171): the search stops before the length
    # limit because no running beam can beat the finished hypotheses any more.
    model, prompts = model_and_prompts(1, 8.0)
    recorder = BeamRecorder(3)
    got = beam_search(
        model,
        prompts[PROMPTS.index("Once upon a time")],
        max_new_tokens=12,
        eos_token_id=171,
        pad_token_id=PAD,
        num_beams=3,
        length_penalty=2.0,
        watch=recorder,
    )
    assert got[-1] == 171 and len(got) < 12
    assert recorder.steps[-1].done and not all(recorder.steps[-1].ended)
    winner = recorder.origins[0]
    assert winner is not None and recorder.tokens(winner) == got


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        (DecodingParams(method="greedy"), "method", "method must be beam"),
        (DecodingParams(method="beam", max_new_tokens=33), "max_new_tokens", "between 1 and 32"),
    ],
)
def test_only_a_short_beam_search_is_traced(params, field, words):
    with pytest.raises(InvalidRequest) as caught:
        BeamTrace(PROMPT, params)
    assert caught.value.field == field and words in str(caught.value)


async def test_the_runners_ceiling_applies(embedded):  # noqa: F811
    # The fixture's runner allows 40 new tokens, more than a trace may have: lower it.
    embedded.runner.config = replace(embedded.runner.config, max_new_tokens=4)
    with pytest.raises(InvalidRequest, match="between 1 and 4 on this runner"):
        await embedded.call(BeamTrace(PROMPT, DecodingParams(method="beam", max_new_tokens=5)))
