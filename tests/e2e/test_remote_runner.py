"""The bot works the same with the runner as a separate HTTP service."""

from __future__ import annotations

from aiohttp.test_utils import TestServer

from bot.config import RunnerSettings, Secret, Settings, StorageSettings
from bot.playground.harness import LabHarness
from model_runner.decoding.params import DecodingParams
from model_runner.http import build_app
from model_runner.runner import ModelRunner, RunnerConfig


async def test_bot_uses_a_runner_over_http(tmp_path):
    runner = ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path / "runner"))
    server = TestServer(build_app(runner, token="runner-secret"), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    settings = Settings(
        runner=RunnerSettings(url=url, token=Secret("runner-secret")),
        storage=StorageSettings(data_dir=tmp_path / "bot"),
    )
    harness = LabHarness(settings)
    await harness.start()
    try:
        await runner.wait_ready()
        reply = await harness.actor("Ada").slash("about")
        assert url in reply.text and "`tiny`" in reply.text and "ready" in reply.text
        result = await harness.bot.runner.generate("Hello", DecodingParams(max_new_tokens=4))
        assert len(result.token_ids) == 4
    finally:
        await harness.stop()
        await server.close()
    assert not harness.emulator.violations
