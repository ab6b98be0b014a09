"""Attention, embedding, train step and adapter archives over the runner's HTTP API."""

from __future__ import annotations

import io
import zipfile

import pytest
import torch
from aiohttp.test_utils import TestClient, TestServer
from peft import LoraConfig, get_peft_model

from model_runner.client import HttpRunnerClient
from model_runner.http import build_app
from model_runner.protocol import (
    AdapterArchive,
    AdapterNotFound,
    Attention,
    AttentionResult,
    Embedding,
    TrainStep,
)
from model_runner.runner import ModelRunner, RunnerConfig
from model_runner.tiny import build_tiny

TEXT = "Mix the flour with the eggs"


@pytest.fixture
async def service(tmp_path):
    model, _ = build_tiny()
    torch.manual_seed(1)
    config = LoraConfig(
        r=4, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(tmp_path / "adapters" / "group-a")
    runner = ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path))
    await runner.wait_ready()
    server = TestClient(TestServer(build_app(runner)))
    await server.start_server()
    client = HttpRunnerClient(str(server.make_url("")).rstrip("/"))
    yield runner, server, client
    await client.close()
    await server.close()


async def test_same_answers_over_http(service):
    runner, _, client = service
    remote, local = (
        await client.call(Attention(TEXT, layer=1, head=2)),
        await runner.call(Attention(TEXT, 1, 2)),
    )
    assert isinstance(remote, AttentionResult)
    assert remote.weights == local.weights and remote.tokens == local.tokens
    assert remote.attends_to_in_text == local.attends_to_in_text and remote.head == 2
    remote, local = (
        await client.call(Embedding(["flour", "cake"], 3)),
        await runner.call(Embedding(["flour", "cake"], 3)),
    )
    assert remote.words == local.words and remote.points == local.points
    remote, local = (
        await client.call(TrainStep(TEXT, 2, 1e-2)),
        await runner.call(TrainStep(TEXT, 2, 1e-2)),
    )
    assert remote.losses == local.losses and remote.tokens == local.tokens
    assert remote.compute_ms > 0 and remote.model == "tiny"


async def test_adapter_archive_over_http(service):
    _, server, client = service
    reply = await server.get("/v1/adapters/group-a/archive")
    assert reply.status == 200 and reply.content_type == "application/zip"
    assert 'filename="group-a.zip"' in reply.headers["Content-Disposition"]
    data = await client.call(AdapterArchive("group-a"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "group-a/adapter_config.json" in archive.namelist()
    posted = await server.post("/v1/adapter-archive", json={"adapter": "group-a"})
    assert posted.status == 200 and await posted.read() == data
    with pytest.raises(AdapterNotFound, match="no adapter 'nope'") as caught:
        await client.call(AdapterArchive("nope"))
    assert caught.value.field == "adapter"
    missing = await server.get("/v1/adapters/nope/archive")
    assert missing.status == 404 and (await missing.json())["error"] == "AdapterNotFound"


@pytest.mark.parametrize(
    ("path", "body", "field", "words"),
    [
        (
            "/v1/attention",
            {"text": TEXT, "layer": 9},
            "layer",
            "layer must be between 1 and 2 (got 9)",
        ),
        ("/v1/attention", {"text": TEXT, "head": "one"}, "head", "head must be a"),
        ("/v1/attention", {}, "text", "text is required"),
        (
            "/v1/embedding",
            {"words": ["cake"], "top": 0},
            "top",
            "top must be between 1 and 20 (got 0)",
        ),
        ("/v1/embedding", {"words": "cake"}, "words", "words must be a list"),
        (
            "/v1/train-step",
            {"text": TEXT, "steps": 20},
            "steps",
            "steps must be between 1 and 10 (got 20)",
        ),
        ("/v1/train-step", {"text": TEXT, "learning_rate": 2}, "learning_rate", "between 1e-05"),
    ],
)
async def test_bad_values_answer_400_naming_the_field(service, path, body, field, words):
    _, server, _ = service
    reply = await server.post(path, json=body)
    assert reply.status == 400
    error = await reply.json()
    assert error["error"] == "InvalidRequest" and error["field"] == field
    assert words in error["message"]
