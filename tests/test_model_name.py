"""`LabBot.model_name`: the class's model from the runner's info, cached, and a name even when
the runner does not answer."""

from __future__ import annotations

import asyncio

from bot.config import RunnerSettings, Settings
from bot.lab_bot import LabBot
from model_runner.protocol import RunnerInfo


class Runner:
    """A runner client that answers Info with `model`, or never (None)."""

    def __init__(self, model: str | None, location: str = "in-process") -> None:
        self.model, self.location, self.calls = model, location, 0

    async def call(self, operation):
        self.calls += 1
        if self.model is None:
            await asyncio.sleep(3600)
        return RunnerInfo(model=self.model, status="ready")


def bot(runner: Runner, configured: str = "tiny") -> LabBot:
    return LabBot(Settings(runner=RunnerSettings(model=configured)), runner)


async def test_the_runner_names_the_model_once_a_minute():
    runner = Runner("gemma-offline", location="http://runner:8000")
    lab = bot(runner, configured="openai-community/gpt2")  # the runner's own setting wins
    assert await lab.model_name() == "Gemma 3 270M"
    assert await lab.model_name() == "Gemma 3 270M" and runner.calls == 1


async def test_a_silent_runner_still_gets_a_name():
    assert await bot(Runner(None), configured="gemma-offline").model_name() == "Gemma 3 270M"
    remote = bot(Runner(None, location="http://runner:8000"), configured="gemma-offline")
    assert await remote.model_name() == "the class's model"  # its model may be another
