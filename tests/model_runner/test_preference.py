"""DPO on preference pairs: the loss by hand, log-probabilities of the response only, a run
that raises the chosen outputs' margin, and the runner's operation end to end."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
import torch

from model_runner.finetune.preference import (
    AlignmentProgress,
    agreement,
    dpo_loss,
    pair_tokens,
    preference_steps,
    response_log_probs,
)
from model_runner.protocol import (
    AlignmentParams,
    DecodingParams,
    FineTuneProgress,
    Generate,
    InvalidRequest,
    PreferencePair,
    RunAlreadyActive,
    StartAlignment,
)
from model_runner.tiny import build_tiny

PAIRS = [
    PreferencePair("Mix the flour", " with the eggs, then bake the cake.", " token token id id"),
    PreferencePair("Once upon a time", ", a curious student asked.", " the the the the the"),
    PreferencePair("The best thing about AI", " is its ability to learn.", " loss loss attention"),
]


def test_the_dpo_loss_of_a_hand_computed_example():
    # Pair 1: the policy raised the chosen response by 1 nat over the reference and lowered
    # the rejected one by 1: margin = 0.5 * ((-1 - -2) - (-3 - -2)) = 1, loss = -log sigmoid(1).
    # Pair 2: the policy is the reference: margin 0, loss log 2.
    # Pair 3: the policy moved the wrong way: margin = 0.1 * ((-4 - -2) - (-1 - -3)) = -0.4.
    losses, margins = dpo_loss(
        torch.tensor([-1.0, -5.0]),
        torch.tensor([-3.0, -6.0]),
        torch.tensor([-2.0, -5.0]),
        torch.tensor([-2.0, -6.0]),
        beta=0.5,
    )
    assert margins.tolist() == pytest.approx([1.0, 0.0])
    assert losses.tolist() == pytest.approx([math.log(1 + math.exp(-1.0)), math.log(2)])
    losses, margins = dpo_loss(
        torch.tensor([-4.0]), torch.tensor([-1.0]), torch.tensor([-2.0]), torch.tensor([-3.0]), 0.1
    )
    assert margins.item() == pytest.approx(-0.4)
    assert losses.item() == pytest.approx(math.log(1 + math.exp(0.4)))  # 0.9130


def test_only_the_responses_tokens_are_counted():
    model, tokenizer = build_tiny()
    model.eval()
    pair = PAIRS[0]
    batch = pair_tokens(tokenizer, [pair], 64, torch.device("cpu"))
    with torch.no_grad():
        chosen, rejected = response_log_probs(model, batch).tolist()
    prompt = tokenizer(pair.prompt)["input_ids"]
    for response, score in ((pair.chosen, chosen), (pair.rejected, rejected)):
        ids = prompt + tokenizer(response)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        expected = sum(
            torch.log_softmax(logits[t - 1], dim=-1)[ids[t]].item()
            for t in range(len(prompt), len(ids))
        )
        assert score == pytest.approx(expected, abs=1e-4)


def test_agreement_counts_each_models_preference_and_the_margins():
    reference = [(-5.0, -4.0), (-2.0, -3.0)]  # the pre-trained model preferred pair 2's choice
    policy = [(-3.0, -4.5), (-2.5, -3.0)]
    measured = agreement(reference, policy, beta=0.1)
    assert (measured.pairs, measured.preferred_before, measured.preferred_after) == (2, 1, 2)
    # margins: 0.1 * ((-3 + 5) - (-4.5 + 4)) = 0.25 and 0.1 * ((-2.5 + 2) - 0) = -0.05
    assert measured.margin_positive == 1 and measured.mean_margin == pytest.approx(0.1)


def test_a_run_on_the_tiny_model_raises_the_chosen_outputs_margin():
    model, tokenizer = build_tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = AlignmentParams(epochs=6, learning_rate=5e-3, batch_size=3, beta=0.1)
    progress = AlignmentProgress()
    *_, trained = preference_steps(model, tokenizer, PAIRS, params, progress)  # every slice
    assert progress.step == progress.total_steps == 6
    assert progress.losses[0] == pytest.approx(math.log(2), abs=1e-5)  # policy = reference
    assert progress.losses[-1] < progress.losses[0]
    result = progress.agreement
    assert result is not None and result.pairs == 3
    assert result.margin_positive == 3 and result.mean_margin > 0
    assert result.preferred_after >= result.preferred_before
    # The chosen responses gained against the rejected ones, measured afresh.
    batch = pair_tokens(tokenizer, PAIRS, params.max_length, torch.device("cpu"))
    with torch.no_grad():
        policy = response_log_probs(trained, batch)
        with trained.disable_adapter():
            reference = response_log_probs(trained, batch)
    gained = (policy[:3] - reference[:3]) - (policy[3:] - reference[3:])
    assert (gained > 0).all()
    # The model the class shares is untouched: training worked on a private copy.
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_pairs_and_params_are_checked_naming_the_field():
    with pytest.raises(InvalidRequest) as caught:
        PreferencePair("Once", " same", " same")
    assert caught.value.field == "rejected"
    with pytest.raises(InvalidRequest) as caught:
        AlignmentParams(beta=2.0)
    assert caught.value.field == "beta" and "between 0.01 and 1" in str(caught.value)
    with pytest.raises(InvalidRequest) as caught:
        StartAlignment("g1-aligned-v1", [])
    assert caught.value.field == "pairs" and "1-500" in str(caught.value)
    with pytest.raises(InvalidRequest) as caught:
        StartAlignment.from_dict({"adapter": "a", "pairs": [{"prompt": "x", "chosen": "y"}]})
    assert caught.value.field == "rejected"


async def test_the_runner_aligns_saves_and_generates_with_the_adapter(runner, tmp_path):
    params = AlignmentParams(epochs=2, learning_rate=5e-3, batch_size=2)
    started = await runner.call(StartAlignment("g1-class-aligned-v1", PAIRS, params))
    assert started.status in ("queued", "running")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while (status := await runner.call(FineTuneProgress("g1-class-aligned-v1"))).status in (
        "queued",
        "running",
    ):
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    assert status.status == "done", status.error
    assert status.step == status.total_steps == 4 and len(status.losses) == 4
    assert status.preference is not None and status.preference.pairs == 3
    assert status.preference.margin_positive == 3
    record = json.loads(
        (tmp_path / "adapters" / "g1-class-aligned-v1" / "training.json").read_text()
    )
    assert record["method"] == "dpo" and record["pairs"][0]["chosen"] == PAIRS[0].chosen
    assert record["preference"] == status.preference.to_dict()
    greedy = DecodingParams(max_new_tokens=6)
    aligned = await runner.call(Generate("Mix the flour", greedy, "g1-class-aligned-v1"))
    assert aligned.adapter == "g1-class-aligned-v1" and aligned.token_ids


async def test_an_alignment_over_http_reports_the_preference_it_measured(runner):
    from aiohttp.test_utils import TestClient, TestServer

    from model_runner.client import HttpRunnerClient
    from model_runner.http import build_app

    server = TestClient(TestServer(build_app(runner)))
    await server.start_server()
    client = HttpRunnerClient(str(server.make_url("")).rstrip("/"))
    try:
        op = StartAlignment("http-aligned", PAIRS[:2], AlignmentParams(epochs=1, batch_size=2))
        started = await client.call(op)
        assert started.adapter == "http-aligned"
        while (status := await client.call(FineTuneProgress("http-aligned"))).status in (
            "queued",
            "running",
        ):
            await asyncio.sleep(0.05)
        assert status.status == "done" and status.total_steps == 1
        assert status.preference is not None and status.preference.pairs == 2
        with pytest.raises(RunAlreadyActive, match="already exists"):
            await client.call(op)  # the adapter is saved now: a new run needs a new id
    finally:
        await client.close()
        await server.close()
