"""The runner's operations, in-process and over HTTP: same answers, same validation."""

from __future__ import annotations

import math

import pytest
from aiohttp.test_utils import TestClient, TestServer

from model_runner.client import EmbeddedRunnerClient, HttpRunnerClient
from model_runner.http import build_app
from model_runner.introspect import readable
from model_runner.protocol import (
    Compare,
    DecodingParams,
    Generate,
    InvalidRequest,
    Loss,
    NextToken,
    Tokenize,
)
from model_runner.runner import ModelRunner, RunnerConfig

PROMPT = "The best thing about AI is its ability to"


@pytest.fixture
async def embedded(tmp_path):
    client = EmbeddedRunnerClient(model="tiny", device="cpu", data_dir=tmp_path, max_new_tokens=40)
    await client.start()
    await client.runner.wait_ready()
    yield client
    await client.close()


@pytest.fixture
async def http_server(tmp_path):
    runner = ModelRunner(
        RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path, max_new_tokens=40)
    )
    await runner.wait_ready()
    server = TestClient(TestServer(build_app(runner)))
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def over_http(http_server):
    client = HttpRunnerClient(str(http_server.make_url("")).rstrip("/"))
    yield client
    await client.close()


async def test_same_answers_in_process_and_over_http(embedded, over_http):
    params = DecodingParams(method="sampling", seed=5, max_new_tokens=12)
    a, b = (
        await embedded.call(Generate(PROMPT, params)),
        await over_http.call(Generate(PROMPT, params)),
    )
    assert a.token_ids == b.token_ids and a.text == b.text and len(a.token_ids) == 12
    assert a.params["seed"] == 5 and a.method == "sampling"
    assert (await embedded.call(Tokenize("Hello world"))).tokens == (
        await over_http.call(Tokenize("Hello world"))
    ).tokens
    na, nb = (
        await embedded.call(NextToken(PROMPT, 0.7, 5)),
        await over_http.call(NextToken(PROMPT, 0.7, 5)),
    )
    assert [c.id for c in na.candidates] == [c.id for c in nb.candidates]
    la, lb = await embedded.call(Loss("Mix the flour")), await over_http.call(Loss("Mix the flour"))
    assert la.mean_loss == pytest.approx(lb.mean_loss)


async def test_every_result_reports_time_and_energy(over_http):
    result = await over_http.call(Generate(PROMPT, DecodingParams(max_new_tokens=5)))
    assert result.compute_ms > 0 and result.energy_wh > 0 and result.queue_ms >= 0
    assert result.finish_reason in ("eos", "length")


async def test_compare_runs_the_labs_four_methods(over_http):
    result = await over_http.call(Compare(PROMPT, max_new_tokens=8, seed=1))
    assert [r.method for r in result.results] == ["greedy", "beam", "contrastive", "sampling"]
    beam = result.results[1]
    assert beam.params["num_beams"] == 5
    contrastive = result.results[2]
    assert contrastive.params["penalty_alpha"] == 0.6 and contrastive.params["top_k"] == 4
    assert result.energy_wh == pytest.approx(sum(r.energy_wh for r in result.results))


@pytest.mark.parametrize(
    ("call", "field", "words"),
    [
        (
            lambda c: c.call(Generate(PROMPT, DecodingParams(max_new_tokens=41))),
            "max_new_tokens",
            "between 1 and 40",
        ),
        (lambda c: c.call(NextToken(PROMPT, temperature=9)), "temperature", "between 0.05 and 5"),
        (lambda c: c.call(NextToken(PROMPT, top=500)), "top", "between 1 and 50"),
        (lambda c: c.call(Tokenize("")), "text", "must not be empty"),
        (lambda c: c.call(Loss("x" * 3000)), "text", "at most 2000"),
    ],
)
async def test_bad_values_name_the_field_and_range(embedded, over_http, call, field, words):
    for client in (embedded, over_http):
        with pytest.raises(InvalidRequest) as caught:
            await call(client)
        assert caught.value.field == field and words in str(caught.value)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {"prompt": "hi", "params": {"method": "sampling", "temperature": 0}},
            "temperature",
            "temperature must be between",
        ),
        ({"params": {"method": "greedy"}}, "prompt", "prompt is required"),
        ({"prompt": "hi", "params": {"method": "magic"}}, "method", "method must be one of"),
        ({"prompt": "hi", "method": "greedy"}, "method", "a generate request has no field"),
        ({"prompt": "hi", "params": "greedy"}, "params", "params must be a JSON object"),
    ],
)
async def test_http_rejects_bad_json_fields(http_server, body, field, words):
    reply = await http_server.post("/v1/generate", json=body)
    assert reply.status == 400
    error = await reply.json()
    assert error["error"] == "InvalidRequest" and error["field"] == field
    assert words in error["message"]


async def test_temperature_flattens_and_sharpens(embedded):
    cold = await embedded.call(NextToken(PROMPT, temperature=0.3, top=5))
    hot = await embedded.call(NextToken(PROMPT, temperature=3.0, top=5))
    assert cold.candidates[0].id == hot.candidates[0].id  # same ranking
    assert cold.candidates[0].probability > hot.candidates[0].probability


async def test_loss_is_the_mean_cross_entropy(embedded):
    result = await embedded.call(Loss("Mix the flour with the eggs"))
    losses = [t.loss for t in result.tokens]
    assert all(t.loss == pytest.approx(-math.log(t.probability)) for t in result.tokens)
    assert result.mean_loss == pytest.approx(sum(losses) / len(losses))
    assert result.perplexity == pytest.approx(math.exp(result.mean_loss))
    # With a beginning-of-text token every token of the text gets a loss.
    tokens = await embedded.call(Tokenize("Mix the flour with the eggs"))
    assert [t.id for t in result.tokens] == [t.id for t in tokens.tokens]


async def test_tokens_are_shown_readably(embedded):
    result = await embedded.call(Tokenize("The best\nday"))
    assert [t.piece for t in result.tokens][:2] == ["The", "Ġbest"]
    assert "␣best" in [t.display for t in result.tokens]
    assert "↵" in "".join(t.display for t in result.tokens)
    assert "".join(t.text for t in result.tokens) == "The best\nday"
    assert readable(" a  ") == "␣a␣␣" and readable("") == "∅"
