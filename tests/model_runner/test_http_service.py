"""The runner's HTTP service: health, info, bearer token, and the HTTP client."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from model_runner.client import HttpRunnerClient
from model_runner.http import RUNNER_KEY, build_app, is_loopback, serve
from model_runner.protocol import Info, RunnerBusy, RunnerUnavailable, Tokenize
from model_runner.runner import ModelRunner, RunnerConfig


@pytest.fixture
async def service(tmp_path):
    runner = ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path))
    await runner.wait_ready()
    server = TestServer(build_app(runner, token="s3cret"))
    client = TestClient(server)
    await client.start_server()
    yield client
    await client.close()


async def test_healthz_needs_no_token(service):
    reply = await service.get("/healthz")
    assert reply.status == 200
    assert (await reply.json()) == {"ok": True, "status": "ready"}


async def test_info_needs_the_token(service):
    assert (await service.get("/v1/info")).status == 401
    reply = await service.get("/v1/info", headers={"Authorization": "Bearer s3cret"})
    body = await reply.json()
    assert body["model"] == "tiny" and body["status"] == "ready" and body["device"] == "cpu"


async def test_http_client_reads_info(service):
    url = str(service.make_url("")).rstrip("/")
    client = HttpRunnerClient(url, token="s3cret")
    try:
        info = await client.call(Info())
        assert info.model == "tiny" and info.parameters > 0
    finally:
        await client.close()


async def test_http_client_reports_wrong_token(service):
    client = HttpRunnerClient(str(service.make_url("")), token="wrong")
    try:
        with pytest.raises(RunnerUnavailable, match="refused the bot's token"):
            await client.call(Info())
    finally:
        await client.close()


async def test_http_client_reports_unreachable_runner():
    client = HttpRunnerClient("http://127.0.0.1:9", timeout_s=2)
    try:
        with pytest.raises(RunnerUnavailable, match="did not answer"):
            await client.call(Info())
    finally:
        await client.close()


def test_open_listening_requires_a_token(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    runner = ModelRunner(RunnerConfig(model="tiny", data_dir=tmp_path))
    with pytest.raises(PermissionError, match="LABBOT_RUNNER_TOKEN"):
        serve(runner, "0.0.0.0", 8765, token=None)


async def test_failed_model_load_is_reported(tmp_path):
    runner = ModelRunner(RunnerConfig(model=str(tmp_path / "missing"), data_dir=tmp_path))
    with pytest.raises(RunnerUnavailable, match="does not exist"):
        await runner.wait_ready()
    info = await runner.call(Info())
    assert info.status == "failed" and "does not exist" in info.error
    await runner.close()


async def test_busy_runner_says_when_to_retry(service, monkeypatch):
    async def busy(text):
        raise RunnerBusy("queue full", retry_after=2.5)

    runner = service.server.app[RUNNER_KEY]
    monkeypatch.setattr(runner, "tokenize", busy)
    reply = await service.post(
        "/v1/tokenize", json={"text": "hi"}, headers={"Authorization": "Bearer s3cret"}
    )
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "3"  # whole seconds, rounded up
    assert (await reply.json())["retry_after"] == 2.5
    client = HttpRunnerClient(str(service.make_url("")), token="s3cret")
    try:
        with pytest.raises(RunnerBusy) as caught:
            await client.call(Tokenize("hi"))
        assert caught.value.retry_after == 2.5
    finally:
        await client.close()
