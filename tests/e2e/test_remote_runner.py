"""The bot works the same with the runner as a separate HTTP service."""

from __future__ import annotations

import logging

from aiohttp.test_utils import TestServer

from bot.config import RunnerSettings, Secret, Settings, StorageSettings
from bot.playground.harness import LabHarness
from model_runner.http import build_app
from model_runner.protocol import DecodingParams, Generate
from model_runner.runner import ModelRunner, RunnerConfig
from tests.e2e.conftest import TIME_SCALE


async def test_bot_uses_a_runner_over_http(tmp_path):
    runner = ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path / "runner"))
    server = TestServer(build_app(runner, token="runner-secret"), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    settings = Settings(
        runner=RunnerSettings(url=url, token=Secret("runner-secret")),
        storage=StorageSettings(data_dir=tmp_path / "bot"),
    )
    harness = LabHarness(settings, time_scale=TIME_SCALE)
    await harness.start()
    try:
        await runner.wait_ready()
        reply = await harness.actor("Ada").slash("about")
        assert "`tiny`" in reply.text and "ready" in reply.text
        assert url not in reply.text and "a separate model server" in reply.text
        teacher = await harness.actor("Ms Rivera", roles=["Instructor"]).slash("about")
        assert url in teacher.text
        result = await harness.bot.runner.call(Generate("Hello", DecodingParams(max_new_tokens=4)))
        assert len(result.token_ids) == 4
    finally:
        await harness.stop()
        await server.close()
    assert not harness.emulator.violations


async def test_the_runner_address_and_its_credentials_stay_hidden(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    url = "http://lab:hunter2@127.0.0.1:9/?token=t0k"  # nothing listens on port 9
    settings = Settings(
        runner=RunnerSettings(url=url), storage=StorageSettings(data_dir=tmp_path / "bot")
    )
    harness = LabHarness(settings, time_scale=TIME_SCALE)
    await harness.start()
    try:
        student = await harness.actor("Ada", roles=["Group 1"]).slash("generate", prompt="Hi")
        about = await harness.actor("Ada").slash("about")
        teacher = await harness.actor("Ms Rivera", roles=["Instructor"]).slash("about")
    finally:
        await harness.stop()
    assert "not available" in student.text
    for text in (student.text, about.text):
        assert "127.0.0.1" not in text and "hunter2" not in text and "t0k" not in text
    assert "http://***@127.0.0.1:9" in teacher.text and "hunter2" not in teacher.text
    assert "hunter2" not in caplog.text and "t0k" not in caplog.text
